import Glibc
import Testing

@testable import MFACore

@Suite struct SafeFileTests {
  @Test func writesAtomicallyWithModeAndReadsBack() throws {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    let path = dir.path + "/secret"
    try SafeFile.write(path: path, contents: [UInt8]("one\n"), mode: 0o600)
    #expect(dir.mode("secret") == 0o600)
    #expect(try TrustedFile.privateFile(owners: [geteuid()]).read(path, maxSize: 100).text == "one\n")
    try SafeFile.write(path: path, contents: [UInt8]("two\n"), mode: 0o600)
    #expect(dir.read("secret") == "two\n")
    // No temporary file is left behind.
    #expect(dir.entries() == ["secret"])
  }

  @Test func aKilledWritersLeftoverIsReplacedNotFollowed() throws {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    dir.write("target", "do not touch\n")
    _ = symlink(dir.path + "/target", dir.path + "/.secret.tmp")
    try SafeFile.write(path: dir.path + "/secret", contents: [UInt8]("new\n"), mode: 0o600)
    #expect(dir.read("secret") == "new\n")
    #expect(dir.read("target") == "do not touch\n")
    #expect(dir.entries() == ["secret", "target"])
  }

  @Test func refusesToReplaceWhenAskedNotTo() throws {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    dir.write("secret", "old\n")
    #expect(throws: FileError.self) {
      try SafeFile.write(path: dir.path + "/secret", contents: [UInt8]("new\n"), mode: 0o600, replace: false)
    }
    #expect(dir.read("secret") == "old\n")
    #expect(dir.entries() == ["secret"])
  }

  @Test func readRefusesUnsafeFiles() throws {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    dir.write("open", "x", mode: 0o644)
    dir.write("private", "x", mode: 0o600)
    _ = symlink(dir.path + "/private", dir.path + "/link")
    mkdir(dir.path + "/directory", 0o700)

    func failure(_ name: String, owner: UInt32 = geteuid()) -> FileError? {
      do throws(FileError) {
        _ = try TrustedFile.privateFile(owners: [owner]).read(dir.path + "/" + name, maxSize: 100)
        return nil
      } catch {
        return error
      }
    }
    guard case .insecurePermissions = failure("open") else { Issue.record("0644 accepted"); return }
    guard case .symbolicLink = failure("link") else { Issue.record("symlink followed"); return }
    guard case .notRegularFile = failure("directory") else { Issue.record("directory accepted"); return }
    guard case .notFound = failure("missing") else { Issue.record("missing file"); return }
    guard case .wrongOwner = failure("private", owner: 4242) else { Issue.record("owner ignored"); return }
    #expect(failure("private") == nil)
  }

  @Test func readRefusesOversizedFiles() {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    dir.write("big", String(repeating: "x", count: 200))
    #expect(throws: FileError.self) {
      try TrustedFile.privateFile(owners: [geteuid()]).read(dir.path + "/big", maxSize: 100)
    }
  }

  @Test func makeDirectoriesCreatesPrivateParents() throws {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    try SafeFile.makeDirectories(dir.path + "/a/b", mode: 0o700)
    #expect(dir.mode("a") == 0o700)
    #expect(dir.mode("a/b") == 0o700)
    try SafeFile.makeDirectories(dir.path + "/a/b", mode: 0o700)
  }
}
