import CLibc

/// A user's enrollment and shared login state in their directory entry `uid=USER,<base>`
/// (schema: ldap/pam_mfa.schema), so every guarantee holds across all hosts that use it.
/// Each operation is one LDAP modify that the server applies atomically, made conditional the
/// LDAP way: deleting the exact value that was read (which fails if another host changed it);
/// a write that relies on a value being absent moves the entry's revision too (`guardAbsence`).
/// A conflict means another host got there first: read again and decide again. This needs one
/// writable server for the subtree at a time (pam_mfa-ldap(5)).
public struct DirectoryCredentialStore<Connection: DirectoryConnection, Local: StateStore>: CredentialStore {
  public let connection: Connection
  /// This host's own state: codes sent to the user and remembered hosts stay per host.
  public let local: Local
  public let user: [UInt8]
  public let dn: [UInt8]
  public let base: [UInt8]
  /// The entry from the last read, so a login reads it once when nobody else writes.
  let cache = EntryCache()
  /// False on a server other than the first of ldap_uri (a standby, after a failover): it may
  /// not have received an enrollment yet, so a missing one there is not "not enrolled".
  public var trustsAbsence = true

  /// Rounds of read-and-retry before giving up; each round lost means another host succeeded.
  static var maxRounds: Int { DirectoryAttribute.maxRounds }
  typealias Attribute = DirectoryAttribute

  final class EntryCache {
    var entry: DirectoryEntry?
    /// Resends left to this login (modifyEntry): a server that keeps refusing costs it a few
    /// exchanges, never dozens.
    var resends = DirectoryAttribute.resends
    deinit { entry?.wipe() }
  }

  public init(connection: Connection, user: [UInt8], base: [UInt8], local: Local) {
    self.connection = connection
    self.local = local
    self.user = user
    self.dn = DirectoryText.dn(user: user, base: base)
    self.base = base
  }

  public var location: StoreLocation {
    StoreLocation(kind: .directory, place: "directory " + connection.server + " (" + dn.text + ")", stateDirectory: nil)
  }
  /// The directory's access rules keep users from writing their entry.
  public var isWrittenByUser: Bool { false }

  public var exists: Bool {
    do throws(FileError) {
      _ = try readEnrollment()
      return true
    } catch .notFound {
      return false
    } catch {
      return true  // a damaged enrollment is there too
    }
  }

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

  /// Each operation of a login is applied as it comes (CredentialStore's note).
  public func session<Result>(_ body: (inout Self) throws(FileError) -> Result) throws(FileError) -> Result {
    var session = self
    return try body(&session)
  }

  public func doubtAboutAbsence() -> String? {
    if !trustsAbsence {
      return "the server that answered, " + connection.server
        + ", is not the first of ldap_uri and may not have received it yet: cannot tell who is enrolled"
    }
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
      return location.place + ": " + error.description
    }
    return "the base entry " + base.text + " is not visible to this host on " + connection.server
      + " (a wrong ldap_base, or this host's identity lost its read rights): cannot tell who is enrolled"
  }

  /// The enrollment text with one `backup` line per stored code appended, parsed as a file.
  public static func enrollment(in entry: DirectoryEntry) throws(FileError) -> Enrollment {
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
    DirectoryCredentialStore.state(in: try entry(fresh: false))
  }

  /// The shared login state an entry holds (replay marks, failures, last success).
  public static func state(in entry: DirectoryEntry) -> UserState {
    var state = UserState()
    // Several marks of one authenticator (two servers' changes merged by replication): the
    // highest counts, so a merge can never make a used code new again.
    for value in entry.values(Attribute.step) {
      guard let mark = StepValue(value), mark.number >= 0 else { continue }
      if mark.kind == StepValue.totp {
        if mark.number > state.lastStep(of: mark.name) ?? -1 { state.setLastStep(mark.number, of: mark.name) }
      } else if UInt64(mark.number) > state.hotpCounter(of: mark.name) {
        state.setHOTPCounter(UInt64(mark.number), of: mark.name)
      }
    }
    if let value = entry.values(Attribute.failures).first, let record = FailureRecord(text: value) {
      state.failure = record
    }
    if let value = entry.values(Attribute.lastSuccess).first, let time = parseDecimal(value) {
      state.lastSuccess = time
    }
    // A damaged record is dropped: the offsets are a convenience, never a reason to deny.
    for value in entry.values(Attribute.clockOffset) {
      _ = state.drift.add(SecretFileFormat.splitWords(value))
    }
    return state
  }

  /// Compare-and-swap: delete exactly the `old` values and add `new` (a conflict if one of
  /// them is gone); with no `old`, add `new` only while `entry` (what the decision was made on)
  /// is unchanged in that respect, through the entry's revision.
  func swap(
    _ attribute: [UInt8], in entry: DirectoryEntry, old: [[UInt8]], new: [UInt8], also: [DirectoryChange]
  ) throws(FileError) -> DirectoryResult {
    var changes: [DirectoryChange] = []
    if !old.isEmpty {
      changes.append(DirectoryChange(.delete, attribute, old))
    } else {
      changes += try DirectoryCredentialStore.guardAbsence(in: entry)
    }
    changes.append(DirectoryChange(.add, attribute, [new]))
    changes += also
    let result = try modifyEntry(changes)
    // What the server now holds, so the login's next write starts from the revision it made.
    if result == .done, var cached = cache.entry {
      cached.apply(changes)
      cache.entry = cached
    }
    return result
  }

  /// "Nothing there yet" cannot be compared and swapped, and not every server has the assertion
  /// control (389-ds has none): so every write that relies on an absence also moves the entry's
  /// revision from the value read to the next, and two such writes from one read cannot both
  /// succeed. The revision only grows, so a stale read never matches again.
  static func guardAbsence(in entry: DirectoryEntry) throws(FileError) -> [DirectoryChange] {
    guard let old = entry.values(Attribute.revision).first else {
      // An entry from before revisions: the first one to add it wins, the other's add conflicts.
      return [DirectoryChange(.add, Attribute.revision, [[UInt8]("1")])]
    }
    guard let number = parseDecimal(old), number >= 0, number < Int64.max else {
      throw .malformed(FormatError(line: 0, "pamMfaRevision is not a number"))
    }
    return [
      DirectoryChange(.delete, Attribute.revision, [old]),
      DirectoryChange(.add, Attribute.revision, [[UInt8](String(number + 1))]),
    ]
  }

  /// One modify of the user's entry. After a failure or "no such entry", a read tells what
  /// happened:
  /// - the entry is missing: `.noEntry` (389 Directory Server refuses to say so to a host that
  ///   may not write its parent: insufficientAccess, not noSuchObject);
  /// - `changes` add the first revision (none was read) and one is there now: `.conflict`, as
  ///   another host got there first (a second value of a single-valued attribute is refused:
  ///   constraintViolation on OpenLDAP, objectClassViolation on 389-ds);
  /// - the entry is there and the server said it did not make the change: 389-ds does so
  ///   while other hosts write the entry (it gives up waiting for it, "find_entry_internal_dn -
  ///   Retry count exceeded", and answers as if it were missing, or busy). Every change here is
  ///   conditional on what was read or sets fixed values, so it is sent again, as long as the
  ///   login has resends left, before the refusal stands.
  /// Any other failure (no answer, a notice of disconnection) may come after the change was
  /// applied: never resent.
  func modifyEntry(_ changes: [DirectoryChange]) throws(FileError) -> DirectoryResult {
    while true {
      var failure: FileError?
      do throws(FileError) {
        let result = try connection.modify(dn, changes)
        if result != .noEntry { return result }
      } catch {
        failure = error
      }
      let found: DirectoryEntry?
      do throws(FileError) { found = try connection.read(dn) } catch { throw failure ?? error }
      guard var entry = found else { return .noEntry }
      defer { entry.wipe() }
      if failure != nil && DirectoryCredentialStore.addsFirstRevision(changes)
        && !entry.values(Attribute.revision).isEmpty
      {
        return .conflict
      }
      let resendable: Bool
      switch failure {
      case .none, .some(.directoryRefused): resendable = true
      default: resendable = false
      }
      guard resendable, cache.resends > 0 else {
        throw failure
          ?? .directory(
            connection.server + ": " + dn.text + ": a change was answered \"no such entry\"; a read finds it")
      }
      cache.resends -= 1
    }
  }

  static func addsFirstRevision(_ changes: [DirectoryChange]) -> Bool {
    let revision = changes.filter { DirectoryText.sameName($0.attribute, Attribute.revision) }
    return revision.contains { $0.operation == .add } && !revision.contains { $0.operation == .delete }
  }

  func busy() -> FileError {
    .directory(
      connection.server + ": " + dn.text + " kept changing under us; gave up after "
        + String(DirectoryCredentialStore.maxRounds) + " tries")
  }
}
