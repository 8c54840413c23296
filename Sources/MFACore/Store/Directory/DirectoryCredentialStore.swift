import CLibc

/// A user's enrollment and shared login state in their directory entry `uid=USER,<base>`
/// (schema: ldap/pam_mfa.schema), so every guarantee holds across all hosts that use it.
/// Each operation is one LDAP modify that the server applies atomically, made conditional the
/// LDAP way: deleting the exact value that was read (which fails if another host changed it)
/// or an assertion control (RFC 4528). A conflict means another host got there first: read
/// again and decide again. This needs one writable server for the subtree (pam_mfa-ldap(5)).
public struct DirectoryCredentialStore<Connection: DirectoryConnection>: CredentialStore, EnrollmentStore {
  public let connection: Connection
  public let user: [UInt8]
  public let dn: [UInt8]
  public let base: [UInt8]
  /// The entry from the last read, so a login reads it once when nobody else writes.
  let cache = EntryCache()

  /// Rounds of read-and-retry before giving up; each round lost means another host succeeded.
  static var maxRounds: Int { DirectoryAttribute.maxRounds }
  typealias Attribute = DirectoryAttribute

  final class EntryCache {
    var entry: DirectoryEntry?
    deinit { entry?.wipe() }
  }

  public init(connection: Connection, user: [UInt8], base: [UInt8]) {
    self.connection = connection
    self.user = user
    self.dn = DirectoryText.dn(user: user, base: base)
    self.base = base
  }

  public var location: String { "directory " + connection.server + " (" + dn.text + ")" }
  public var enrollmentLocation: String { location }
  public var enrollmentDescription: String { location }
  public var missingEnrollment: String { location + " has no enrollment" }
  /// The directory's access rules keep users from writing their entry.
  public var isWrittenByUser: Bool { false }

  func entry(fresh: Bool) throws(FileError) -> DirectoryEntry {
    if !fresh, let entry = cache.entry { return entry }
    cache.entry?.wipe()
    cache.entry = nil
    guard let entry = try connection.read(dn) else { throw .notFound }
    cache.entry = entry
    return entry
  }

  // MARK: reading

  public func readEnrollment() throws(FileError) -> Enrollment {
    let entry = try entry(fresh: true)
    return try DirectoryCredentialStore.enrollment(in: entry)
  }

  /// The directory itself is the record.
  public func noteEnrolled(now: Int64) throws(FileError) {}

  public func doubtAboutAbsence() -> String? {
    // A pam_mfa entry we can see without an enrollment (reset, disable) is a trustworthy
    // absence; any other entry there (a person's, under a wrong ldap_base) is not.
    if let entry = cache.entry {
      if entry.values([UInt8]("objectClass")).contains(where: { DirectoryText.sameName($0, Attribute.objectClass) }) {
        return nil
      }
      return "the entry " + dn.text + " is not a pam_mfa entry (objectClass " + Attribute.objectClass.text
        + " is not visible): a wrong ldap_base?"
    }
    // No entry: only if this host can see the base is that "not enrolled" and not "cannot see".
    do throws(FileError) {
      if try connection.read(base) != nil { return nil }
    } catch {
      return location + ": " + error.description
    }
    return "the base entry " + base.text + " is not visible to this host on " + connection.server
      + " (a wrong ldap_base, or this host's identity lost its read rights): cannot tell who is enrolled"
  }

  /// The enrollment text with one `backup` line per stored code appended, parsed as a file.
  static func enrollment(in entry: DirectoryEntry) throws(FileError) -> Enrollment {
    guard let stored = entry.values(Attribute.enrollment).first else { throw .notFound }
    // Sized once: a growing buffer would leave freed copies of the key's text behind.
    var contents: [UInt8] = []
    contents.reserveCapacity(
      entry.values(Attribute.backupCode).reduce(stored.count + 1) { $0 + $1.count + 1 } + 1)
    contents += stored
    defer { contents.wipe() }
    for value in entry.values(Attribute.backupCode) {
      contents.append(ASCII.newline)
      contents += value
    }
    contents.append(ASCII.newline)
    do throws(FormatError) {
      return try SecretFileFormat.parse(contents)
    } catch {
      throw .malformed(error)
    }
  }

  public func readState() throws(FileError) -> UserState {
    let entry = try entry(fresh: false)
    var state = UserState()
    for value in entry.values(Attribute.step) {
      guard let mark = StepValue(value) else { continue }
      if mark.kind == StepValue.totp {
        state.setLastStep(mark.number, of: mark.name)
      } else {
        state.setHOTPCounter(UInt64(mark.number), of: mark.name)
      }
    }
    if let value = entry.values(Attribute.failures).first, let record = FailureRecord(text: value) {
      state.failure = record
    }
    if let value = entry.values(Attribute.lastSuccess).first, let time = parseDecimal(value) {
      state.lastSuccess = time
    }
    return state
  }

  // MARK: the atomic operations of a login

  public func countFailure(options: ModuleOptions, now: Int64) throws(FileError) -> FailureCount {
    for round in 0..<DirectoryCredentialStore.maxRounds {
      let entry = try entry(fresh: round > 0)
      let old = entry.values(Attribute.failures).first
      var record = FailureRecord()
      if let old {
        // A value we cannot read is damage from outside: refuse rather than reset the count.
        guard let stored = FailureRecord(text: old) else {
          throw .malformed(FormatError(line: 0, "pamMfaFailures is not four numbers"))
        }
        record = stored
      }
      let result = record.count(options: options, now: now)
      if case .locked = result { return result }
      switch try swap(Attribute.failures, prefix: nil, old: old, new: record.text, also: []) {
      case .done: return result
      case .conflict: continue
      case .noEntry: throw .notFound
      }
    }
    throw busy()
  }

  public func acceptStep(_ step: Int64, of authenticator: [UInt8], now: Int64) throws(FileError) -> Bool {
    try moveMark(kind: StepValue.totp, of: authenticator, now: now) { current in
      if let current, current >= step { return nil }
      return step
    }
  }

  public func advanceCounter(of authenticator: [UInt8], from expected: UInt64, to next: UInt64, now: Int64)
    throws(FileError) -> Bool
  {
    try moveMark(kind: StepValue.hotp, of: authenticator, now: now) { current in
      UInt64(current ?? 0) == expected ? Int64(next) : nil
    }
  }

  /// Moves one `pamMfaStep` value from what was read to what `decide` returns (nil: refuse),
  /// together with the success changes, in one modify.
  func moveMark(kind: [UInt8], of authenticator: [UInt8], now: Int64, _ decide: (Int64?) -> Int64?)
    throws(FileError) -> Bool
  {
    for round in 0..<DirectoryCredentialStore.maxRounds {
      let entry = try entry(fresh: round > 0)
      var old: [UInt8]?
      var current: Int64?
      for value in entry.values(Attribute.step) {
        guard let mark = StepValue(value), mark.kind == kind, mark.name == authenticator else { continue }
        old = value
        current = mark.number
      }
      guard let next = decide(current) else { return false }
      let prefix = StepValue.prefix(kind: kind, name: authenticator)
      let new = prefix + [UInt8](String(next))
      switch try swap(Attribute.step, prefix: prefix, old: old, new: new, also: successChanges(now)) {
      case .done:
        cache.entry = nil
        return true
      case .conflict: continue
      case .noEntry: throw .notFound
      }
    }
    throw busy()
  }

  public func consumeBackupCode(_ code: [UInt8], now: Int64) throws(FileError) -> Int? {
    let entry = try entry(fresh: false)
    var enrollment = try DirectoryCredentialStore.enrollment(in: entry)
    defer { enrollment.wipe() }
    // The values are appended in order, so the n-th parsed code is the n-th value.
    let values = entry.values(Attribute.backupCode)
    guard let index = BackupCodes.match(code, in: enrollment.backupCodes), index < values.count else { return nil }
    let changes = [DirectoryChange(.delete, Attribute.backupCode, [values[index]])] + successChanges(now)
    switch try connection.modify(dn, changes, assertion: nil) {
    case .done:
      cache.entry = nil
      return values.count - 1
    case .conflict: return nil  // another login used it a moment ago
    case .noEntry: throw .notFound
    }
  }

  public func reset(success: Int64?) throws(FileError) {
    var changes = [DirectoryChange(.replace, Attribute.failures, [])]
    if let success { changes.append(DirectoryChange(.replace, Attribute.lastSuccess, [[UInt8](String(success))])) }
    if try connection.modify(dn, changes, assertion: nil) == .done { cache.entry = nil }
  }

  func successChanges(_ now: Int64) -> [DirectoryChange] {
    [
      DirectoryChange(.replace, Attribute.failures, []),
      DirectoryChange(.replace, Attribute.lastSuccess, [[UInt8](String(now))]),
    ]
  }

  /// Compare-and-swap of one value: delete exactly `old` and add `new` (a conflict if `old`
  /// is gone); with no `old`, add `new` only while no value (with `prefix`) exists.
  func swap(_ attribute: [UInt8], prefix: [UInt8]?, old: [UInt8]?, new: [UInt8], also: [DirectoryChange])
    throws(FileError) -> DirectoryResult
  {
    var changes: [DirectoryChange] = []
    var assertion: [UInt8]?
    if let old {
      changes.append(DirectoryChange(.delete, attribute, [old]))
    } else {
      let pattern = (prefix.map { DirectoryText.escaped($0) } ?? []) + [0x2A]
      assertion = [UInt8]("(!(") + attribute + [ASCII.equals] + pattern + [UInt8]("))")
    }
    changes.append(DirectoryChange(.add, attribute, [new]))
    return try connection.modify(dn, changes + also, assertion: assertion)
  }

  func busy() -> FileError {
    .directory(
      connection.server + ": " + dn.text + " kept changing under us; gave up after "
        + String(DirectoryCredentialStore.maxRounds) + " tries")
  }

  // MARK: writing enrollments (mfa-enroll, enroll=login)

  public func read() throws(FileError) -> Enrollment { try readEnrollment() }

  /// The file format split in two: the authenticator lines (one value) and one value per
  /// backup code, so a login can delete exactly one code.
  static func values(of enrollment: Enrollment) -> (text: [UInt8], backupCodes: [[UInt8]]) {
    var contents = SecretFileFormat.serialize(enrollment)
    defer { contents.wipe() }
    var text: [UInt8] = []
    var codes: [[UInt8]] = []
    let backup = [UInt8]("backup ")
    for line in SecretFileFormat.lines(contents) where !line.isEmpty {
      if line.starts(with: backup) { codes.append(line) } else { text += line + [ASCII.newline] }
    }
    return (text, codes)
  }

  public func create(_ enrollment: Enrollment) throws(FileError) {
    var (text, codes) = DirectoryCredentialStore.values(of: enrollment)
    defer { text.wipe() }
    var changes = [DirectoryChange(.add, Attribute.enrollment, [text])]
    if !codes.isEmpty { changes.append(DirectoryChange(.add, Attribute.backupCode, codes)) }
    let exists = FileError.system(SystemError("create enrollment", code: EEXIST))
    // The entry may exist without an enrollment: it keeps the replay state of an earlier one.
    let assertion = [UInt8]("(!(") + Attribute.enrollment + [UInt8]("=*))")
    switch try connection.modify(dn, changes, assertion: assertion) {
    case .done: return
    case .conflict: throw exists
    case .noEntry:
      let entry = [
        DirectoryChange(.add, [UInt8]("objectClass"), [Attribute.objectClass]),
        DirectoryChange(.add, [UInt8]("uid"), [user]),
      ]
      if try connection.add(dn, entry + changes) != .done { throw exists }
    }
  }

  public func save(_ enrollment: Enrollment, replace: Bool, asRoot: Bool?) throws(FileError) {
    if !replace { return try create(enrollment) }
    var (text, codes) = DirectoryCredentialStore.values(of: enrollment)
    defer { text.wipe() }
    let changes = [
      DirectoryChange(.replace, Attribute.enrollment, [text]), DirectoryChange(.replace, Attribute.backupCode, codes),
    ]
    if try connection.modify(dn, changes, assertion: nil) == .noEntry { try create(enrollment) }
  }

  public func update<Result>(_ body: (inout Enrollment) -> Result) throws(FileError) -> Result {
    for _ in 0..<DirectoryCredentialStore.maxRounds {
      let entry = try entry(fresh: true)
      var enrollment = try DirectoryCredentialStore.enrollment(in: entry)
      defer { enrollment.wipe() }
      let result = body(&enrollment)
      var (text, codes) = DirectoryCredentialStore.values(of: enrollment)
      defer { text.wipe() }
      guard let oldText = entry.values(Attribute.enrollment).first else { throw .notFound }
      let oldCodes = entry.values(Attribute.backupCode)
      // Only what changed, each change conditional on what was read: a code a login used
      // meanwhile is never brought back.
      var changes: [DirectoryChange] = []
      if text != oldText {
        changes += [
          DirectoryChange(.delete, Attribute.enrollment, [oldText]),
          DirectoryChange(.add, Attribute.enrollment, [text]),
        ]
      }
      let removed = oldCodes.filter { !codes.contains($0) }
      let added = codes.filter { !oldCodes.contains($0) }
      if !removed.isEmpty { changes.append(DirectoryChange(.delete, Attribute.backupCode, removed)) }
      if !added.isEmpty { changes.append(DirectoryChange(.add, Attribute.backupCode, added)) }
      if changes.isEmpty { return result }
      switch try connection.modify(dn, changes, assertion: nil) {
      case .done:
        cache.entry = nil
        return result
      case .conflict: continue
      case .noEntry: throw .notFound
      }
    }
    throw busy()
  }

  public func remove() throws(FileError) {
    let changes = [
      DirectoryChange(.replace, Attribute.enrollment, []), DirectoryChange(.replace, Attribute.backupCode, []),
    ]
    if try connection.modify(dn, changes, assertion: nil) == .noEntry { throw .notFound }
    cache.entry = nil
  }
}

/// The schema's attribute names (ldap/pam_mfa.schema).
enum DirectoryAttribute {
  static let objectClass: [UInt8] = Array("pamMfaAccount".utf8)
  static let enrollment: [UInt8] = Array("pamMfaEnrollment".utf8)
  static let backupCode: [UInt8] = Array("pamMfaBackupCode".utf8)
  static let step: [UInt8] = Array("pamMfaStep".utf8)
  static let failures: [UInt8] = Array("pamMfaFailures".utf8)
  static let lastSuccess: [UInt8] = Array("pamMfaLastSuccess".utf8)
  static let maxRounds = 64
}

/// One `pamMfaStep` value: `totp:NAME:STEP` or `hotp:NAME:COUNTER`. No spaces, so a substring
/// filter on `totp:NAME:` matches exactly this authenticator's value.
struct StepValue {
  static let totp: [UInt8] = Array("totp".utf8)
  static let hotp: [UInt8] = Array("hotp".utf8)

  var kind: [UInt8]
  var name: [UInt8]
  var number: Int64

  init?(_ value: [UInt8]) {
    let parts = value.fields(separatedBy: 0x3A)
    guard parts.count == 3, parts[0] == StepValue.totp || parts[0] == StepValue.hotp,
      Authenticator.isValidStateName(parts[1]), let parsed = parseDecimal(parts[2])
    else { return nil }
    kind = parts[0]
    name = parts[1]
    number = parsed
  }

  static func prefix(kind: [UInt8], name: [UInt8]) -> [UInt8] { kind + [0x3A] + name + [0x3A] }
}
