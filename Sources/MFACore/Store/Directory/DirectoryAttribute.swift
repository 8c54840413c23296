/// The schema's attribute names (ldap/pam_mfa.schema).
enum DirectoryAttribute {
  static let objectClass: [UInt8] = Array("pamMfaAccount".utf8)
  static let enrollment: [UInt8] = Array("pamMfaEnrollment".utf8)
  static let backupCode: [UInt8] = Array("pamMfaBackupCode".utf8)
  static let step: [UInt8] = Array("pamMfaStep".utf8)
  static let failures: [UInt8] = Array("pamMfaFailures".utf8)
  static let lastSuccess: [UInt8] = Array("pamMfaLastSuccess".utf8)
  /// Raised by every write that depends on a value being absent (DirectoryCredentialStore.guardAbsence).
  static let revision: [UInt8] = Array("pamMfaRevision".utf8)
  /// Learned clock offsets, one ClockDrift record per value.
  static let clockOffset: [UInt8] = Array("pamMfaClockOffset".utf8)
  static let maxRounds = 64
  /// Times one login (one store) sends again a change the server refused for an entry that is
  /// there (DirectoryCredentialStore.modifyEntry).
  static let resends = 4
}
