import Testing

@testable import MFACore

/// A directory in memory with LDAP's modify semantics for what the store sends: changes apply
/// in order and all-or-nothing; deleting a missing value or adding a present one is a
/// conflict; adding a second value to pamMfaRevision (single-valued) fails as the servers' schema
/// check does. `beforeModify` lets a test play "another host" between the store's read and its write.
final class MemoryDirectory: DirectoryConnection {
  var entries: [String: [String: [[UInt8]]]] = [:]
  var beforeModify: ((MemoryDirectory) -> Void)?
  var modifies = 0
  /// As 389 Directory Server to a host: a modify of a missing entry is refused, not "no such object".
  var hidesMissingEntries = false
  /// As 389-ds while other hosts write the entry: the next modifies are answered with these
  /// (nil: noSuchObject) and change nothing.
  var refusals: [FileError?] = []
  var readsFail = false
  let server = "ldaps://memory"

  func read(_ dn: [UInt8]) throws(FileError) -> DirectoryEntry? {
    if readsFail { throw .directory(server + ": search failed: Timed out") }
    guard let entry = entries[dn.text] else { return nil }
    return DirectoryEntry(attributes: entry.map { (name: [UInt8]($0.key), values: $0.value) })
  }

  func modify(_ dn: [UInt8], _ changes: [DirectoryChange]) throws(FileError) -> DirectoryResult {
    modifies += 1
    // A refused send changes nothing and comes before "another host" (the hook) plays.
    if !refusals.isEmpty {
      let refusal = refusals.removeFirst()
      guard let refusal else { return .noEntry }
      throw refusal
    }
    if let hook = beforeModify {
      beforeModify = nil
      hook(self)
    }
    guard var entry = entries[dn.text] else {
      if hidesMissingEntries { throw .directoryRefused(server + ": modify failed: Insufficient access") }
      return .noEntry
    }
    for change in changes {
      let name = change.attribute.text
      var values = entry[name] ?? []
      switch change.operation {
      case .add:
        for value in change.values {
          if values.contains(value) { return .conflict }
          values.append(value)
        }
      case .delete:
        if change.values.isEmpty && values.isEmpty { return .conflict }
        for value in change.values {
          guard let index = values.firstIndex(of: value) else { return .conflict }
          values.remove(at: index)
        }
        if change.values.isEmpty { values = [] }
      case .replace:
        values = change.values
      }
      if name == "pamMfaRevision" && values.count > 1 {
        throw .directoryRefused(server + ": modify failed: Constraint violation")
      }
      entry[name] = values.isEmpty ? nil : values
    }
    entries[dn.text] = entry
    return .done
  }

  func add(_ dn: [UInt8], _ attributes: [DirectoryChange]) throws(FileError) -> DirectoryResult {
    if entries[dn.text] != nil { return .conflict }
    var entry: [String: [[UInt8]]] = [:]
    for attribute in attributes { entry[attribute.attribute.text, default: []] += attribute.values }
    entries[dn.text] = entry
    return .done
  }

}

@Suite struct DirectoryStoreTests {
  static let base = [UInt8]("ou=mfa,dc=example,dc=org")

  func store(_ directory: MemoryDirectory, user: String = "alice") -> DirectoryCredentialStore<
    MemoryDirectory, MemoryStore
  > {
    DirectoryCredentialStore(connection: directory, user: [UInt8](user), base: Self.base, local: MemoryStore())
  }

  func enrolled(backupCodes: Int = 0) throws -> (MemoryDirectory, [[UInt8]]) {
    let directory = MemoryDirectory()
    var enrollment = Enrollment(authenticators: [
      Authenticator(
        name: [UInt8]("default"), algorithm: .sha1, digits: 6, period: 30, key: [UInt8]("12345678901234567890"))
    ])
    var codes: [[UInt8]] = []
    if backupCodes > 0 {
      let made = try BackupCodes.generate(count: backupCodes, iterations: 1000)
      enrollment.backupCodes = made.hashes
      codes = made.codes
    }
    try store(directory).create(enrollment)
    return (directory, codes)
  }

  func values(_ directory: MemoryDirectory, _ attribute: String) -> [String] {
    (directory.entries["uid=alice," + Self.base.text]?[attribute] ?? []).map { $0.text }
  }

  @Test func namesAreEscapedInDNsAndFilters() {
    #expect(DirectoryText.dn(user: [UInt8]("a,b=c"), base: [UInt8]("o=x")).text == "uid=a\\2cb\\3dc,o=x")
    #expect(DirectoryText.escaped([UInt8]("x*()\\ y")).text == "x\\2a\\28\\29\\5c\\20y")
  }

  @Test func createReadAndNotFound() throws {
    let (directory, _) = try enrolled(backupCodes: 2)
    let read = try store(directory).readEnrollment()
    #expect(read.authenticators.count == 1)
    #expect(read.backupCodes.count == 2)
    #expect(values(directory, "pamMfaBackupCode").count == 2)
    #expect(throws: FileError.self) { try store(directory, user: "bob").readEnrollment() }
    // A second create never overwrites.
    #expect(throws: FileError.self) { try store(directory).create(read) }
  }

  @Test func aStepIsAcceptedOnceAndOnlyForward() throws {
    let (directory, _) = try enrolled()
    let alice = store(directory)
    #expect(try alice.acceptStep(100, of: [UInt8]("default"), now: 1))
    #expect(try !alice.acceptStep(100, of: [UInt8]("default"), now: 2))
    #expect(try !store(directory).acceptStep(99, of: [UInt8]("default"), now: 3))
    #expect(try alice.acceptStep(101, of: [UInt8]("default"), now: 4))
    // Another authenticator has its own mark; a name that is a prefix does not collide.
    #expect(try alice.acceptStep(50, of: [UInt8]("defaul"), now: 5))
    #expect(Set(values(directory, "pamMfaStep")) == ["totp:default:101", "totp:defaul:50"])
    #expect(values(directory, "pamMfaLastSuccess") == ["5"])
  }

  @Test func anotherHostWinningTheRaceMeansReadAgainAndDecideAgain() throws {
    let (directory, _) = try enrolled()
    let alice = store(directory)
    #expect(try alice.acceptStep(100, of: [UInt8]("default"), now: 1))
    _ = try alice.readState()
    // Between our read and our write, another host accepts step 200.
    directory.beforeModify = { other in
      other.entries["uid=alice," + Self.base.text]?["pamMfaStep"] = [[UInt8]("totp:default:200")]
    }
    #expect(try !alice.acceptStep(150, of: [UInt8]("default"), now: 2))
    #expect(values(directory, "pamMfaStep") == ["totp:default:200"])
    // A first write races too: the other host's first write moved the revision, ours conflicts,
    // and on the second read the step is taken.
    let (fresh, _) = try enrolled()
    let late = store(fresh)
    _ = try late.readState()
    fresh.beforeModify = { other in
      _ = try? DirectoryStoreTests().store(other).acceptStep(300, of: [UInt8]("default"), now: 3)
    }
    #expect(try !late.acceptStep(300, of: [UInt8]("default"), now: 3))
    #expect(values(fresh, "pamMfaStep") == ["totp:default:300"])
    #expect(values(fresh, "pamMfaRevision") == ["2"])
    // Two different first steps from one stale read: only one lands, never two marks.
    let (other, _) = try enrolled()
    let slow = store(other)
    _ = try slow.readState()
    other.beforeModify = { directory in
      _ = try? DirectoryStoreTests().store(directory).acceptStep(400, of: [UInt8]("default"), now: 4)
    }
    #expect(try slow.acceptStep(401, of: [UInt8]("default"), now: 4))
    #expect(values(other, "pamMfaStep") == ["totp:default:401"])
  }

  @Test func failuresCountAcrossHostsUpToALockout() throws {
    let (directory, _) = try enrolled()
    var options = ModuleOptions()
    options.deny = 3
    options.unlockTime = 300
    #expect(try store(directory).countFailure(options: options, now: 1000) == .counted(failures: 1, lockedFor: 0))
    // The other host's count lands between our read and our write: ours becomes the third.
    let hostA = store(directory)
    _ = try hostA.readState()
    directory.beforeModify = { _ in
      _ = try? DirectoryStoreTests().store(directory).countFailure(options: options, now: 1001)
    }
    #expect(try hostA.countFailure(options: options, now: 1002) == .counted(failures: 3, lockedFor: 300))
    #expect(try store(directory).countFailure(options: options, now: 1003) == .locked(until: 1302))
    #expect(try store(directory).readState().isLocked(at: 1100))
    // A success clears it; so does root's unlock.
    try store(directory).reset(success: nil)
    #expect(try !store(directory).readState().isLocked(at: 1100))
    #expect(values(directory, "pamMfaFailures").isEmpty)
  }

  @Test func aBackupCodeIsUsedOnceAndUpdatesNeverBringOneBack() throws {
    let (directory, codes) = try enrolled(backupCodes: 3)
    #expect(try store(directory).consumeBackupCode(codes[0], now: 1) == 2)
    #expect(try store(directory).consumeBackupCode(codes[0], now: 2) == nil)
    // Root adds an authenticator while a login uses code 1: the used code stays used.
    let admin = store(directory)
    directory.beforeModify = { _ in _ = try? DirectoryStoreTests().store(directory).consumeBackupCode(codes[1], now: 3)
    }
    try admin.updateEnrollment { enrollment in
      enrollment.authenticators.append(
        Authenticator(
          name: [UInt8]("phone2"), algorithm: .sha1, digits: 6, period: 30, key: [UInt8]("abcdefghijabcdefghij")))
    }
    let after = try store(directory).readEnrollment()
    #expect(after.authenticators.count == 2)
    #expect(after.backupCodes.count == 1)
    #expect(try store(directory).consumeBackupCode(codes[2], now: 4) == 0)
  }

  @Test func aFirstLoginCountsAndAcceptsInTwoModifiesWithoutLosingToItself() throws {
    let (directory, _) = try enrolled()
    let alice = store(directory)
    let before = directory.modifies
    #expect(try alice.countFailure(options: ModuleOptions(), now: 1) == .counted(failures: 1, lockedFor: 0))
    #expect(try alice.acceptStep(100, of: [UInt8]("default"), now: 1))
    #expect(directory.modifies - before == 2)
    #expect(values(directory, "pamMfaRevision") == ["3"])
  }

  @Test func marksMergedByReplicationCountAtTheHighestAndAreReplacedTogether() throws {
    let (directory, _) = try enrolled()
    // Two servers' changes merged value by value: one authenticator with two marks.
    directory.entries["uid=alice," + Self.base.text]?["pamMfaStep"] = [
      [UInt8]("totp:default:102"), [UInt8]("totp:default:100"), [UInt8]("hotp:token:7"), [UInt8]("hotp:token:9"),
    ]
    #expect(try store(directory).readState().lastStep(of: [UInt8]("default")) == 102)
    #expect(try store(directory).readState().hotpCounter(of: [UInt8]("token")) == 9)
    #expect(try !store(directory).acceptStep(101, of: [UInt8]("default"), now: 1))
    #expect(try store(directory).acceptStep(103, of: [UInt8]("default"), now: 2))
    #expect(try !store(directory).advanceCounter(of: [UInt8]("token"), from: 7, to: 8, now: 3))
    #expect(try store(directory).advanceCounter(of: [UInt8]("token"), from: 9, to: 10, now: 4))
    #expect(Set(values(directory, "pamMfaStep")) == ["totp:default:103", "hotp:token:10"])
  }

  @Test func anEntryFromBeforeRevisionsGetsOneAtItsFirstGuardedWrite() throws {
    let (directory, _) = try enrolled()
    directory.entries["uid=alice," + Self.base.text]?["pamMfaRevision"] = nil
    #expect(try store(directory).acceptStep(100, of: [UInt8]("default"), now: 1))
    #expect(values(directory, "pamMfaRevision") == ["1"])
    #expect(try store(directory).countFailure(options: ModuleOptions(), now: 2) == .counted(failures: 1, lockedFor: 0))
    #expect(values(directory, "pamMfaRevision") == ["2"])
    // From a reading without a revision, another host's two guarded writes come first: our
    // "first revision" is refused as a second value, which is a lost race, so we try again.
    let (legacy, _) = try enrolled()
    legacy.entries["uid=alice," + Self.base.text]?["pamMfaRevision"] = nil
    let late = store(legacy)
    _ = try late.readState()
    legacy.beforeModify = { other in
      _ = try? DirectoryStoreTests().store(other).acceptStep(100, of: [UInt8]("default"), now: 1)
      other.entries["uid=alice," + Self.base.text]?["pamMfaRevision"] = [[UInt8]("2")]
    }
    #expect(try late.countFailure(options: ModuleOptions(), now: 2) == .counted(failures: 1, lockedFor: 0))
    #expect(values(legacy, "pamMfaRevision") == ["3"])
    // A damaged revision is refused, not reset.
    directory.entries["uid=alice," + Self.base.text]?["pamMfaRevision"] = [[UInt8]("x")]
    try store(directory).reset(success: nil)
    #expect(throws: FileError.self) { try store(directory).countFailure(options: ModuleOptions(), now: 3) }
  }

  @Test func aNewEnrollmentOnAKeptEntryKeepsItsMarksAndNeverOverwrites() throws {
    let (directory, _) = try enrolled()
    #expect(try store(directory).acceptStep(100, of: [UInt8]("default"), now: 1))
    try store(directory).removeEnrollment()
    let enrollment = Enrollment(authenticators: [
      Authenticator(
        name: [UInt8]("default"), algorithm: .sha1, digits: 6, period: 30, key: [UInt8]("abcdefghijabcdefghij"))
    ])
    // Another enrollment lands between our read and our write: ours is refused.
    directory.beforeModify = { other in try? DirectoryStoreTests().store(other).create(enrollment) }
    #expect(throws: FileError.self) { try store(directory).create(enrollment) }
    #expect(values(directory, "pamMfaStep") == ["totp:default:100"])
    #expect(try store(directory).readEnrollment().authenticators[0].key == [UInt8]("abcdefghijabcdefghij"))
  }

  @Test func aServerThatHidesMissingEntriesStillMeansNoEntry() throws {
    let directory = MemoryDirectory()
    directory.hidesMissingEntries = true
    do throws(FileError) {
      try store(directory).removeEnrollment()
      Issue.record("a missing entry was removed")
    } catch .notFound {
    } catch {
      Issue.record("not .notFound: \(error)")
    }
    let enrollment = Enrollment(authenticators: [
      Authenticator(
        name: [UInt8]("default"), algorithm: .sha1, digits: 6, period: 30, key: [UInt8]("abcdefghijabcdefghij"))
    ])
    try store(directory).save(enrollment, replace: true)
    #expect(try store(directory).readEnrollment().authenticators.count == 1)
    // A refusal of an entry that is there stays an error.
    directory.entries["uid=alice," + Self.base.text]?["pamMfaRevision"] = [[UInt8]("1"), [UInt8]("2")]
    #expect(throws: FileError.self) { try store(directory).countFailure(options: ModuleOptions(), now: 1) }
  }

  @Test func aChangeRefusedForAnEntryThatIsThereIsSentAgain() throws {
    let (directory, _) = try enrolled()
    directory.refusals = [.directoryRefused("ldaps://memory: modify failed: Insufficient access"), nil]
    let counted = try store(directory).countFailure(options: ModuleOptions(), now: 1)
    #expect(counted == .counted(failures: 1, lockedFor: 0))
    #expect(directory.modifies == 3)
    directory.modifies = 0
    directory.refusals = [.directoryRefused("ldaps://memory: modify failed: Server is busy")]
    #expect(try store(directory).acceptStep(100, of: [UInt8]("default"), now: 1))
    #expect(directory.modifies == 2)
    #expect(values(directory, "pamMfaStep") == ["totp:default:100"])
    #expect(values(directory, "pamMfaFailures") == [])
  }

  @Test func aRefusalThatStaysStandsAfterAFewResends() throws {
    let (directory, _) = try enrolled()
    directory.refusals = Array(
      repeating: .directoryRefused("ldaps://memory: modify failed: Insufficient access"), count: 10)
    #expect(throws: FileError.self) { try store(directory).acceptStep(100, of: [UInt8]("default"), now: 1) }
    #expect(directory.modifies == 1 + DirectoryAttribute.resends)
    #expect(values(directory, "pamMfaStep") == [])
  }

  @Test func oneLoginHasAFewResendsInAll() throws {
    let (directory, _) = try enrolled()
    let refused = FileError.directoryRefused("ldaps://memory: modify failed: Server is busy")
    let login = store(directory)
    directory.refusals = Array(repeating: refused, count: DirectoryAttribute.resends - 1)
    _ = try login.countFailure(options: ModuleOptions(), now: 1)
    directory.refusals = [refused, refused]
    #expect(throws: FileError.self) { try login.acceptStep(100, of: [UInt8]("default"), now: 1) }
    #expect(directory.modifies == DirectoryAttribute.resends + 2)
  }

  @Test func noSuchObjectForAnEntryThatIsThereStandsAfterTheResends() throws {
    let (directory, _) = try enrolled()
    directory.refusals = Array(repeating: nil, count: 10)
    do throws(FileError) {
      _ = try store(directory).acceptStep(100, of: [UInt8]("default"), now: 1)
      Issue.record("accepted")
    } catch .directory(let reason) {
      #expect(reason.contains("a read finds it"))
    } catch {
      Issue.record("not a directory error: \(error)")
    }
    #expect(directory.modifies == 1 + DirectoryAttribute.resends)
  }

  @Test func aReadThatFailsAfterNoSuchObjectIsAnError() throws {
    let (directory, _) = try enrolled()
    directory.refusals = [nil]
    directory.readsFail = true
    #expect(throws: FileError.self) { try store(directory).removeEnrollment() }
    #expect(directory.modifies == 1)
  }

  @Test func aRefusalThenAConflictReadsAgainAndCountsOnce() throws {
    let (directory, _) = try enrolled()
    // Another host counts a failure while the store's first send is refused: the resend
    // conflicts, the store reads again and counts the second failure.
    directory.refusals = [.directoryRefused("ldaps://memory: modify failed: Server is busy")]
    directory.beforeModify = { _ = try? DirectoryStoreTests().store($0).countFailure(options: ModuleOptions(), now: 1) }
    let counted = try store(directory).countFailure(options: ModuleOptions(), now: 1)
    #expect(counted == .counted(failures: 2, lockedFor: 0))
  }

  @Test func aModifyWithoutAnAnswerIsNeverSentAgain() throws {
    let (directory, _) = try enrolled()
    // It may have been applied: sending it again could count a failure twice.
    directory.refusals = [.directory("ldaps://memory: modify failed: Timed out")]
    #expect(throws: FileError.self) { try store(directory).countFailure(options: ModuleOptions(), now: 1) }
    #expect(directory.modifies == 1)
  }

  @Test func removeKeepsTheWatermarks() throws {
    let (directory, _) = try enrolled()
    #expect(try store(directory).acceptStep(100, of: [UInt8]("default"), now: 1))
    try store(directory).removeEnrollment()
    #expect(throws: FileError.self) { try store(directory).readEnrollment() }
    #expect(values(directory, "pamMfaStep") == ["totp:default:100"])
  }
}
