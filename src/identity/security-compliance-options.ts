// What the security compliance rules for SQL users are set to (`[identity.securityCompliance]`,
// Keystone's `[security_compliance]` options under their camelCase names). Zero or empty
// turns a rule off.
export interface SecurityComplianceOptions {
  /** Failed logins in a row that lock a user out; 0: never. */
  lockoutFailureAttempts: number;
  /** How long a lockout lasts, in seconds; 0: until an operator enables the user again. */
  lockoutDuration: number;
  /** Days a password is valid for after it is set; 0: forever. */
  passwordExpiresDays: number;
  /** A new password must differ from this many passwords counting itself; 0 or 1: off. */
  uniqueLastPasswordCount: number;
  /** A regular expression every new password must match; undefined: any. */
  passwordRegex: string | undefined;
  /** What the regex asks for, in words, shown when a password does not match. */
  passwordRegexDescription: string | undefined;
  /** Days a user must keep a password before changing it themselves; 0: off. */
  minimumPasswordAge: number;
}

export const NO_COMPLIANCE: SecurityComplianceOptions = Object.freeze({
  lockoutFailureAttempts: 0,
  lockoutDuration: 0,
  passwordExpiresDays: 0,
  uniqueLastPasswordCount: 0,
  passwordRegex: undefined,
  passwordRegexDescription: undefined,
  minimumPasswordAge: 0,
});
