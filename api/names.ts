// Kubernetes' rules for names, label keys and label values
// (k8s.io/apimachinery/pkg/util/validation), so that a flag or a field the
// API server would refuse is refused here first, with the rule named.

/** An RFC 1123 label: a namespace's name, at most 63 characters. */
export const isDnsLabel = (value: string): boolean => value.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value);

/** An RFC 1123 subdomain: most objects' names (a Node, a Lease, a RuntimeClassAudit), at most 253 characters. */
export const isDnsSubdomain = (value: string): boolean => value.length <= 253 && value.split('.').every((part) => /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(part));

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** A label key: an optional DNS subdomain prefix and a slash, then a name of at most 63 characters. */
export function isLabelKey(value: string): boolean {
  const slash = value.lastIndexOf('/');
  const [prefix, name] = slash < 0 ? [undefined, value] : [value.slice(0, slash), value.slice(slash + 1)];
  if (prefix !== undefined && (prefix === '' || !isDnsSubdomain(prefix))) return false;
  return name.length <= 63 && LABEL_NAME.test(name);
}

/** A label value: empty, or at most 63 characters of the label name's form. */
export const isLabelValue = (value: string): boolean => value === '' || (value.length <= 63 && LABEL_NAME.test(value));
