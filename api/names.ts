// Kubernetes' rules for names, label keys and label values
// (k8s.io/apimachinery/pkg/util/validation), so that a flag or a field the
// API server would refuse is refused here first, with the rule named.

/** An RFC 1123 label's characters, as a regular expression JavaScript and CEL (RE2) both read. */
const DNS_LABEL_PATTERN = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS_SUBDOMAIN_PATTERN = `${DNS_LABEL_PATTERN}(\\.${DNS_LABEL_PATTERN})*`;
const LABEL_NAME_PATTERN = '[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?';

/** A label key, as a regular expression both JavaScript and CEL (RE2) read: an optional DNS subdomain and a slash, then a name of at most 63 characters. */
export const LABEL_KEY_PATTERN = `^(${DNS_SUBDOMAIN_PATTERN}/)?${LABEL_NAME_PATTERN}$`;
/** A label value: empty, or a name of at most 63 characters. */
export const LABEL_VALUE_PATTERN = `^(${LABEL_NAME_PATTERN})?$`;

const DNS_LABEL = new RegExp(`^${DNS_LABEL_PATTERN}$`);
const DNS_SUBDOMAIN = new RegExp(`^${DNS_SUBDOMAIN_PATTERN}$`);
const LABEL_KEY = new RegExp(LABEL_KEY_PATTERN);
const LABEL_VALUE = new RegExp(LABEL_VALUE_PATTERN);

/** An RFC 1123 label: a namespace's name, at most 63 characters. */
export const isDnsLabel = (value: string): boolean => value.length <= 63 && DNS_LABEL.test(value);

/** An RFC 1123 subdomain: most objects' names (a Node, a Lease, a RuntimeClassAudit), at most 253 characters. */
export const isDnsSubdomain = (value: string): boolean => value.length <= 253 && DNS_SUBDOMAIN.test(value);

/** A label key (its prefix at most 253 characters, as a DNS subdomain). */
export function isLabelKey(value: string): boolean {
  const slash = value.lastIndexOf('/');
  return LABEL_KEY.test(value) && (slash < 0 || isDnsSubdomain(value.slice(0, slash)));
}

export const isLabelValue = (value: string): boolean => LABEL_VALUE.test(value);
