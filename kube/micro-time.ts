// The API server's MicroTime (Lease renewTime, Event eventTime) is read with
// exactly six fractional digits; JavaScript dates have three.
export const microTime = (ms: number): string => new Date(ms).toISOString().replace(/Z$/, '000Z');
