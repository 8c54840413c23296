import Glibc
import Testing

@testable import MFACore

@Suite struct CodeInputTests {
  @Test func acceptsDigitsWithSpaces() throws {
    #expect(try CodeInput.digits([UInt8]("123456")).text == "123456")
    #expect(try CodeInput.digits([UInt8](" 123 456\t")).text == "123456")
    #expect(try CodeInput.digits([UInt8]("12345678")).text == "12345678")
  }

  @Test func rejectsEverythingElse() {
    #expect(throws: CodeInputError.empty) { try CodeInput.digits([]) }
    #expect(throws: CodeInputError.empty) { try CodeInput.digits([UInt8]("   ")) }
    #expect(throws: CodeInputError.invalidCharacter) { try CodeInput.digits([UInt8]("12a456")) }
    #expect(throws: CodeInputError.invalidCharacter) { try CodeInput.digits([UInt8]("123-456")) }
    #expect(throws: CodeInputError.invalidCharacter) { try CodeInput.digits([0x31, 0x32, 0x00, 0x33]) }
    #expect(throws: CodeInputError.invalidCharacter) { try CodeInput.digits([0x31, 0xFF, 0xFE]) }
    #expect(throws: CodeInputError.tooLong) { try CodeInput.digits([UInt8]("123456789")) }
    #expect(throws: CodeInputError.tooLong) {
      try CodeInput.digits([UInt8](repeating: ASCII.space, count: 65))
    }
  }
}

@Suite struct ModuleOptionsTests {
  func parse(_ arguments: [String]) throws(OptionError) -> ModuleOptions {
    try ModuleOptions.parse(arguments.map { [UInt8]($0) })
  }

  @Test func defaults() throws {
    let options = try parse([])
    #expect(options.secretPath == "~/.config/pam_mfa/secret")
    #expect(!options.nullOK)
    #expect(options.window == 1)
    #expect(options.stateDirectory == "/var/lib/pam_mfa/state")
    #expect(!options.debug)
  }

  @Test func parsesEveryOption() throws {
    let options = try parse(["secret=/x/${USER}", "nullok", "window=3", "state_dir=/s", "debug"])
    #expect(options.secretPath == "/x/${USER}")
    #expect(options.nullOK)
    #expect(options.window == 3)
    #expect(options.stateDirectory == "/s")
    #expect(options.debug)
  }

  @Test(arguments: [
    ["foo=bar"], ["nullok=1"], ["window"], ["window=11"], ["window=-1"], ["window=abc"], ["secret="],
    ["state_dir=relative"], ["NULLOK"],
  ])
  func rejectsBadArguments(arguments: [String]) {
    #expect(throws: OptionError.self) { try parse(arguments) }
  }

  @Test func ldapServersAreAnOrderedListAndTheStackLineReplacesTheFiles() throws {
    let conf =
      "store=ldap\nldap_uri = ldap://a.example ldaps://b.example\nldap_uri=ldap://c.example\n"
      + "ldap_base=ou=mfa,dc=x\nldap_ca=/ca\nldap_cert=/c\nldap_key=/k\n"
    func resolve(_ arguments: [String]) throws -> ModuleOptions {
      try ModuleOptions.resolve(arguments: arguments.map { [UInt8]($0) }) { (_) throws(FileError) -> [UInt8]? in
        [UInt8](conf)
      }
    }
    let fromFile = try resolve([])
    #expect(fromFile.directory.uris == ["ldap://a.example", "ldaps://b.example", "ldap://c.example"])
    #expect(fromFile.directory.failback == 60)
    let replaced = try resolve(["ldap_uri=ldaps://d.example", "ldap_uri=ldap://e.example", "ldap_failback=0"])
    #expect(replaced.directory.uris == ["ldaps://d.example", "ldap://e.example"])
    #expect(replaced.directory.failback == 0)
    for bad in [
      "ldap_uri=", "ldap_uri=http://a", "ldap_uri=ldap://a,ldap://b", "ldap_uri=ldap://a\tldap://b",
      "ldap_uri=" + Array(repeating: "ldap://a", count: 9).joined(separator: " "), "ldap_failback=3601",
    ] {
      #expect(throws: OptionError.self) { try resolve([bad]) }
    }
  }

  @Test func everyListedOptionIsAcceptedAndNothingElse() throws {
    let samples = [
      "secret": "=/x", "window": "=2", "deny": "=4", "fail_interval": "=1m", "unlock_time": "=1m",
      "state_dir": "=/s", "conf": "=/c", "require_group": "=mfa", "exempt_group": "=breakglass",
      "enroll": "=login", "enroll_deadline": "=2027-01-31", "contact": "=helpdesk", "remember": "=30d",
      "hotp_window": "=20", "deliver": "=/usr/local/sbin/mfa-deliver", "deliver_ttl": "=5m", "deliver_limit": "=3",
      "deliver_interval": "=15m", "deliver_domains": "=example.org", "deliver_numbers": "=+49", "store": "=files",
      "store_plugin": "=/p.so", "ldap_uri": "=ldaps://ldap.example.org",
      "ldap_base": "=ou=mfa,dc=example,dc=org", "ldap_ca": "=/ca.pem", "ldap_cert": "=/c.pem", "ldap_key": "=/k.pem",
      "ldap_bind_dn": "=cn=host,dc=example,dc=org", "ldap_password_file": "=/pw", "ldap_timeout": "=3",
      "ldap_failback": "=0", "max_drift": "=4", "prompt": "=Code from Contoso:", "combined_prompt": "=Password+code:",
      "helper": "=/usr/lib/x86_64-linux-gnu/security/pam_mfa/mfa_chkcode",
    ]
    for name in ModuleOptions.names.map({ String(decoding: $0, as: UTF8.self) }) {
      _ = try parse([name + (samples[name] ?? "")])
    }
    #expect(ModuleOptions.names.count == 40)
    // store=ldap needs a server, a base, a CA and one way to log in; TLS is not optional.
    let ldap = ["store=ldap", "ldap_uri=ldaps://l", "ldap_base=ou=mfa,dc=x", "ldap_ca=/ca"]
    #expect(throws: OptionError.self) { try parse(ldap) }
    #expect(throws: OptionError.self) { try parse(ldap + ["ldap_cert=/c"]) }
    #expect(throws: OptionError.self) { try parse(ldap + ["ldap_bind_dn=cn=h"]) }
    #expect(throws: OptionError.self) { try parse(["ldap_uri=ldapi://%2Frun%2Fslapd"]) }
    // Several servers are a list separated by spaces (issue 19), never by commas.
    #expect(try parse(["ldap_uri=ldap://a ldap://b"]).directory.uris == ["ldap://a", "ldap://b"])
    #expect(throws: OptionError.self) { try parse(["ldap_uri=ldap://a,ldap://b"]) }
    #expect(try parse(ldap + ["ldap_cert=/c", "ldap_key=/k"]).store == .ldap)
    #expect(try parse(ldap + ["ldap_bind_dn=cn=h", "ldap_password_file=/pw"]).directory.timeout == 5)
    #expect(throws: OptionError.self) { try parse(["remember_me=1d"]) }
    #expect(throws: OptionError.self) { try parse(["enroll=yes"]) }
    #expect(throws: OptionError.self) { try parse(["enroll_deadline=2027-02-30"]) }
    #expect(throws: OptionError.self) { try parse(["require_group=a/b"]) }
    #expect(throws: OptionError.self) { try parse(["remember=10s"]) }
  }

  @Test func unknownOptionIsNamed() {
    do throws(OptionError) {
      _ = try parse(["nullok", "foo=bar"])
      Issue.record("accepted")
    } catch {
      #expect(error.description.contains("'foo'"))
      #expect(!error.description.contains("bar"))
    }
  }
}

@Suite struct PathTemplateTests {
  @Test func expandsUserHomeAndTilde() throws {
    let user = [UInt8]("alice")
    let home = [UInt8]("/home/alice")
    #expect(
      try PathTemplate.expand("~/.config/pam_mfa/secret", user: user, home: home)
        == "/home/alice/.config/pam_mfa/secret")
    #expect(try PathTemplate.expand("/var/lib/pam_mfa/${USER}", user: user, home: home) == "/var/lib/pam_mfa/alice")
    #expect(try PathTemplate.expand("${HOME}/.mfa-${USER}", user: user, home: home) == "/home/alice/.mfa-alice")
    #expect(try PathTemplate.expand("~", user: user, home: home) == "/home/alice")
  }

  @Test func rejectsOtherForms() {
    let user = [UInt8]("alice")
    let home = [UInt8]("/home/alice")
    #expect(throws: FileError.self) { try PathTemplate.expand("~bob/x", user: user, home: home) }
    #expect(throws: FileError.self) { try PathTemplate.expand("/x/$USER", user: user, home: home) }
    #expect(throws: FileError.self) { try PathTemplate.expand("/x/${SHELL}", user: user, home: home) }
    #expect(throws: FileError.self) { try PathTemplate.expand("relative/${USER}", user: user, home: home) }
  }

  @Test func userNamesThatCouldEscapeAPathAreUnsafe() {
    #expect(PathTemplate.isSafeUserName([UInt8]("alice")))
    #expect(PathTemplate.isSafeUserName([UInt8]("alice.smith@corp")))
    for name in ["", ".", "..", "../root", "a/b", "-x", "a\nb"] {
      #expect(!PathTemplate.isSafeUserName([UInt8](name)), "\(name)")
    }
  }
}

@Suite struct UserStateTests {
  @Test func roundTrips() throws {
    var state = UserState()
    state.setLastStep(59_000_000, of: [UInt8]("default"))
    state.setLastStep(12, of: [UInt8]("tablet"))
    state.setLastStep(59_000_001, of: [UInt8]("default"))
    let parsed = try UserStateFormat.parse(UserStateFormat.serialize(state))
    #expect(parsed == state)
    #expect(parsed.lastStep(of: [UInt8]("default")) == 59_000_001)
  }

  @Test(arguments: [
    "", "totp-step default 1\n", "pam_mfa-state 2\n", "pam_mfa-state 1\ntotp-step default x\n",
    "pam_mfa-state 1\ntotp-step default 1\ntotp-step default 2\n", "pam_mfa-state 1\nfailures 3\n",
  ])
  func rejectsMalformedState(text: String) {
    #expect(throws: FormatError.self) { try UserStateFormat.parse([UInt8](text)) }
  }
}

@Suite struct ConfigurationTests {
  func resolve(_ arguments: [String], config: String?) throws(OptionError) -> ModuleOptions {
    try ModuleOptions.resolve(arguments: arguments.map { [UInt8]($0) }) { (_) throws(FileError) -> [UInt8]? in
      config.map { [UInt8]($0) }
    }
  }

  @Test func fileSetsDefaultsAndArgumentsWin() throws {
    let options = try resolve(
      ["window=0"], config: "# policy\nwindow = 3\ndeny=5\nfail_interval=10m\nunlock_time = 1h\nnullok\n")
    #expect(options.window == 0)
    #expect(options.deny == 5)
    #expect(options.failInterval == 600)
    #expect(options.unlockTime == 3600)
    #expect(options.nullOK)
  }

  @Test func missingDefaultFileIsFineButANamedOneIsNot() throws {
    #expect(try resolve([], config: nil).deny == 3)
    #expect(throws: OptionError.self) { try resolve(["conf=/etc/other.conf"], config: nil) }
  }

  @Test(arguments: ["bogus\n", "deny=0\n", "deny=101\n", "unlock_time=5x\n", "unlock_time=2d\n", "conf=/x\n"])
  func badFileLinesAreErrors(config: String) {
    #expect(throws: OptionError.self) { try resolve([], config: config) }
  }

  @Test func durations() throws {
    #expect(try resolve(["unlock_time=90"], config: nil).unlockTime == 90)
    #expect(try resolve(["unlock_time=90s"], config: nil).unlockTime == 90)
    #expect(try resolve(["fail_interval=2h"], config: nil).failInterval == 7200)
    #expect(try resolve(["fail_interval=1d"], config: nil).failInterval == 86_400)
    #expect(throws: OptionError.self) { try resolve(["unlock_time="], config: nil) }
    #expect(throws: OptionError.self) { try resolve(["unlock_time=0"], config: nil) }
  }
}

@Suite struct StateFileTests {
  @Test func newestIntactSlotWins() throws {
    var state = UserState()
    state.setLastStep(7, of: Authenticator.defaultName)
    let first = try #require(StateFile.encode(sequence: 1, payload: UserStateFormat.serialize(state)))
    state.setLastStep(8, of: Authenticator.defaultName)
    let second = try #require(StateFile.encode(sequence: 2, payload: UserStateFormat.serialize(state)))
    var file = [UInt8](repeating: 0, count: StateFile.fileSize)
    file.replaceSubrange(StateFile.slotSize..<StateFile.fileSize, with: first)  // seq 1 → slot 1
    file.replaceSubrange(0..<StateFile.slotSize, with: second)  // seq 2 → slot 0
    #expect(
      try UserStateFormat.parse(#require(StateFile.newestSlot(file)).payload).lastStep(of: Authenticator.defaultName)
        == 8)
    // A torn write of the newer slot falls back to the older one.
    file[60] ^= 0xFF
    #expect(
      try UserStateFormat.parse(#require(StateFile.newestSlot(file)).payload).lastStep(of: Authenticator.defaultName)
        == 7)
    // Both damaged: nothing is trusted.
    file[StateFile.slotSize + 60] ^= 0xFF
    #expect(StateFile.newestSlot(file) == nil)
    #expect(StateFile.newestSlot([UInt8](repeating: 0, count: 100)) == nil)
  }

  @Test func theChecksumIsZlibsCRC32() {
    #expect(CRC32.of([UInt8]("123456789".utf8)[...]) == 0xCBF4_3926)
    #expect(CRC32.of([UInt8]("56789".utf8)[...], continuing: CRC32.of([UInt8]("1234".utf8)[...])) == 0xCBF4_3926)
    #expect(CRC32.of([]) == 0)
  }

  /// pam_mfa 0.1 wrote version 1 (SHA-256); such a slot is still read, a damaged one is not.
  @Test func aVersion1SlotIsStillRead() throws {
    let payload = [UInt8]("pam_mfa-state 1\ntotp-step default 9\n".utf8)
    var header = [UInt8]("PMFS".utf8) + [1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]
    header += [UInt8(payload.count), 0, 0, 0, 0, 0, 0, 0]
    var slot = header + (try #require(Crypto.sha256(header + payload))) + payload
    slot += [UInt8](repeating: 0, count: StateFile.slotSize - slot.count)
    var file = slot + [UInt8](repeating: 0, count: StateFile.slotSize)
    let newest = try #require(StateFile.newestSlot(file))
    #expect(newest.sequence == 5)
    #expect(try UserStateFormat.parse(newest.payload).lastStep(of: Authenticator.defaultName) == 9)
    file[60] ^= 1
    #expect(StateFile.newestSlot(file) == nil)
  }
}

@Suite struct FileStateStoreTests {
  func accept(_ store: FileStateStore, _ user: String, _ step: Int64, _ name: [UInt8] = Authenticator.defaultName)
    throws(FileError) -> Bool
  {
    try store.update(user: [UInt8](user)) { state in
      if let last = state.lastStep(of: name), last >= step { return false }
      state.setLastStep(step, of: name)
      return true
    }
  }

  @Test func keepsAWatermarkPerUserAndAuthenticator() throws {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    let store = FileStateStore(directory: dir.path + "/state")
    #expect(try accept(store, "alice", 100))
    #expect(try !accept(store, "alice", 100))
    #expect(try !accept(store, "alice", 99))
    #expect(try accept(store, "alice", 101))
    #expect(try accept(store, "bob", 100))
    #expect(try accept(store, "alice", 50, [UInt8]("tablet")))
    #expect(try store.peek(user: [UInt8]("alice")).lastStep(of: Authenticator.defaultName) == 101)
    #expect(dir.mode("state") == 0o700)
    #expect(dir.mode("state/alice") == 0o600)
  }

  /// A session that counted an attempt and then failed (a backup code's file could not be
  /// written) must still leave the count behind: otherwise each failure would be a free guess.
  @Test func aChangeIsWrittenEvenWhenTheUpdateThrows() throws {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    let store = FileStateStore(directory: dir.path + "/state")
    #expect(try accept(store, "alice", 1))  // an existing file: the in-place path
    for _ in 0..<2 {
      #expect(throws: FileError.self) {
        try store.update(user: [UInt8]("alice")) { (state) throws(FileError) in
          _ = state.failure.count(options: ModuleOptions(), now: 1000)
          throw .tooLarge
        }
      }
    }
    #expect(try store.peek(user: [UInt8]("alice")).failure.failures == 2)
    // And the first write of a new file (the temporary-file path).
    #expect(throws: FileError.self) {
      try store.update(user: [UInt8]("bob")) { (state) throws(FileError) in
        _ = state.failure.count(options: ModuleOptions(), now: 1000)
        throw .tooLarge
      }
    }
    #expect(try store.peek(user: [UInt8]("bob")).failure.failures == 1)
  }

  @Test func updatesInPlaceWithAFixedSize() throws {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    let store = FileStateStore(directory: dir.path + "/state")
    for step in 1...5 { #expect(try accept(store, "alice", Int64(step))) }
    var info = stat()
    _ = lstat(dir.path + "/state/alice", &info)
    #expect(info.st_size == off_t(StateFile.fileSize))
  }

  @Test func readsAndUpgradesThePlainTextStateOfEarlierVersions() throws {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    mkdir(dir.path + "/state", 0o700)
    dir.write("state/alice", "pam_mfa-state 1\ntotp-step default 500\n")
    let store = FileStateStore(directory: dir.path + "/state")
    #expect(try !accept(store, "alice", 500))
    #expect(try accept(store, "alice", 501))
    #expect(try store.peek(user: [UInt8]("alice")).lastStep(of: Authenticator.defaultName) == 501)
  }

  @Test func refusesAWritableStateDirectory() {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    mkdir(dir.path + "/state", 0o777)
    chmod(dir.path + "/state", 0o777)
    #expect(throws: FileError.self) { try accept(FileStateStore(directory: dir.path + "/state"), "alice", 1) }
  }

  @Test func corruptStateDeniesInsteadOfResetting() {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    mkdir(dir.path + "/state", 0o700)
    dir.write("state/alice", String(repeating: "x", count: StateFile.fileSize))
    #expect(throws: FileError.self) { try accept(FileStateStore(directory: dir.path + "/state"), "alice", 1) }
    #expect(dir.read("state/alice") == String(repeating: "x", count: StateFile.fileSize))
  }
}

@Suite struct BackupCodeTests {
  @Test func codesAreTwelveEasySymbolsWithAtLeastFiftyBits() throws {
    let (codes, hashes) = try BackupCodes.generate(count: 10, iterations: 1000)
    #expect(codes.count == 10 && hashes.count == 10)
    #expect(Set(codes).count == 10)
    for code in codes {
      #expect(code.count == 12)  // 12 × 5 bits = 60 bits
      #expect(!code.contains { "01lo".utf8.contains($0) })
      #expect(code.contains { !ASCII.isDigit($0) })
      #expect(BackupCodes.display(code).count == 14)
    }
  }

  @Test func typingIgnoresCaseDashesAndSpaces() throws {
    let code = [UInt8]("k7dq2mxpw9fh")
    #expect(BackupCodes.normalize([UInt8]("k7dq-2mxp-w9fh")) == code)
    #expect(BackupCodes.normalize([UInt8]("K7DQ 2MXP W9FH")) == code)
    #expect(BackupCodes.normalize([UInt8](" k7dq2mxpw9fh ")) == code)
    #expect(BackupCodes.normalize([UInt8]("k7dq-2mxp-w9f")) == nil)
    #expect(BackupCodes.normalize([UInt8]("k7dq-2mxp-w9f0")) == nil)  // 0 is not in the alphabet
    #expect(BackupCodes.normalize([UInt8]("k7dq-2mxp-w9fhx")) == nil)
  }

  @Test func matchesOnlyItsOwnHash() throws {
    let (codes, hashes) = try BackupCodes.generate(count: 3, iterations: 1000)
    #expect(BackupCodes.match(codes[0], in: hashes) == 0)
    #expect(BackupCodes.match(codes[2], in: hashes) == 2)
    #expect(BackupCodes.match([UInt8]("222233334444"), in: hashes) == nil)
    #expect(hashes[0].salt != hashes[1].salt)
  }

  @Test func hashesRoundTripThroughTheSecretFileWithoutThePlainCode() throws {
    let (codes, hashes) = try BackupCodes.generate(count: 2, iterations: 1000)
    let enrollment = Enrollment(
      authenticators: [
        Authenticator(
          name: Authenticator.defaultName, algorithm: .sha1, digits: 6, period: 30, key: [UInt8]("12345678901234567890")
        )
      ], backupCodes: hashes)
    let text = SecretFileFormat.serialize(enrollment)
    #expect(try SecretFileFormat.parse(text) == enrollment)
    for code in codes { #expect(!text.text.contains(code.text)) }
  }
}

/// The one rule for which kind of store a secret file is in (module and mfa-enroll alike).
@Suite struct StoreLocationTests {
  func kind(_ path: String, home: String = "/home/nobody-here") -> StoreLocation.Kind {
    StoreLocation.fileKind(path: path, home: [UInt8](home))
  }

  @Test func insideTheHomeItIsTheUsersEvenWhenTheHomeIsMissing() {
    #expect(kind("/home/nobody-here/.config/pam_mfa/secret") == .userFile)
    #expect(kind("/home/nobody-here/x", home: "/home/nobody-here///") == .userFile)
  }

  @Test func rootsDirectoriesAllTheWayUpMakeARootStoreEvenBeforeTheRestExists() {
    // /usr/share is root's and closed on every Debian system; the rest of the path is not there.
    #expect(kind("/usr/share/pam_mfa-test-missing/store/alice") == .rootFile)
    // A home of "/" holds nothing, and a home that is root's all the way up may hold a store.
    #expect(kind("/usr/share/pam_mfa-test-missing/alice", home: "/") == .rootFile)
    #expect(kind("/usr/share/pam_mfa-test-missing/alice", home: "/usr") == .rootFile)
  }

  @Test func anythingOthersMayWriteOrARelativePathIsTheUsers() {
    let dir = TemporaryDirectory()  // below /tmp: sticky and writable by all
    defer { dir.remove() }
    #expect(kind(dir.path + "/store/alice") == .userFile)
    #expect(kind("/tmp/pam_mfa-test-missing/alice") == .userFile)
    #expect(kind("relative/alice") == .userFile)
  }

  struct LoginPrivileges: PrivilegeSwitch {
    func asUser<Result>(_ account: UserAccount, _ body: () throws(FileError) -> Result) throws(FileError) -> Result {
      try body()
    }
  }

  /// A login never creates a root-owned store's missing directories: one that is not there yet
  /// may be a home that is not mounted yet.
  @Test func aLoginDoesNotCreateARootStoresDirectories() {
    let missing = "/usr/share/pam_mfa-test-missing"
    let account = UserAccount(name: [UInt8]("alice"), uid: 4242, gid: 4242, home: [UInt8]("/home/alice"))
    let store = SecretFileStore(
      path: missing + "/alice", account: account, privileges: LoginPrivileges(), state: MemoryStore())
    #expect(store.kind == .rootFile)
    #expect(throws: FileError.self) { try store.create(Enrollment(authenticators: [])) }
    #expect(!SafeFile.exists(missing))
    _ = system("rm -rf '\(missing)'")
  }
}
