// The API group both the agent and the operator speak.
export const GROUP = 'rcaudit.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** The pod condition the operator keeps on audited pods when an audit asks for it (flagging.podCondition). */
export const POD_CONDITION = `${GROUP}/RuntimeHandlerVerified`;
