import Glibc
import Testing

@testable import MFACore

/// The system layer under SafeFile and the helper channel: the owned descriptor, its one
/// write-all loop, and the one trusted-file check.
@Suite struct SystemLayerTests {
  @Test func writeAllAtAnOffsetLeavesTheRestAndReadAllReadsToTheEnd() throws {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    dir.write("file", "abcdef")
    let file = try FileDescriptor.open(dir.path + "/file", O_RDWR)
    try file.writeAll([UInt8]("XY".utf8), at: 2)
    #expect(try file.readAll(maxSize: 100).text == "abXYef")
    #expect(file.read(exactly: 1) == nil)
  }

  @Test func readAllStopsAtTheLimit() throws {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    dir.write("big", String(repeating: "x", count: 200))
    let file = try FileDescriptor.open(dir.path + "/big", O_RDONLY)
    do throws(FileError) {
      _ = try file.readAll(maxSize: 100)
      Issue.record("200 bytes read with a limit of 100")
    } catch {
      guard case .tooLarge = error else { Issue.record("\(error)"); return }
    }
  }

  @Test func aFailedCallNamesItsStepAndErrno() {
    do throws(SystemError) {
      _ = try FileDescriptor.open("/nonexistent/x", O_RDONLY, operation: "open lock file")
      Issue.record("opened a missing file")
    } catch {
      #expect(error.operation == "open lock file" && error.code == ENOENT)
      #expect(error.description == "open lock file: No such file or directory")
    }
  }

  func failure(_ rule: TrustedFile, _ path: String) -> FileError? {
    do throws(FileError) {
      try rule.check(path)
      return nil
    } catch {
      return error
    }
  }

  @Test func thePrivateDirectoryMustBeADirectoryOnlyItsOwnerWrites() {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    let rule = TrustedFile.privateDirectory(owner: geteuid())
    mkdir(dir.path + "/state", 0o700)
    #expect(failure(rule, dir.path + "/state") == nil)
    chmod(dir.path + "/state", 0o770)
    guard case .insecurePermissions = failure(rule, dir.path + "/state") else { Issue.record("0770 accepted"); return }
    _ = symlink(dir.path + "/state", dir.path + "/link")
    guard case .symbolicLink = failure(rule, dir.path + "/link") else { Issue.record("symlink followed"); return }
    dir.write("file", "x")
    guard case .notRegularFile = failure(rule, dir.path + "/file") else { Issue.record("file accepted"); return }
    guard case .wrongOwner = failure(TrustedFile.privateDirectory(owner: 4242), dir.path + "/state") else {
      Issue.record("owner ignored")
      return
    }
  }

  @Test(.enabled(if: geteuid() == 0, "root-owned directories need root"))
  func codeRootRunsMustSitInDirectoriesOnlyRootWrites() {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    mkdir(dir.path + "/bin", 0o755)
    dir.write("bin/program", "#!/bin/sh\n", mode: 0o755)
    #expect(failure(.rootProgram, dir.path + "/bin/program") == nil)
    // The settings rule reads the same file; only code root runs needs the directories checked.
    chmod(dir.path + "/bin", 0o775)
    guard case .untrustedDirectory = failure(.rootProgram, dir.path + "/bin/program") else {
      Issue.record("group-writable directory accepted")
      return
    }
    #expect(failure(.rootSettings, dir.path + "/bin/program") == nil)
    chmod(dir.path + "/bin", 0o755)
    chmod(dir.path + "/bin/program", 0o775)
    guard case .insecurePermissions = failure(.rootProgram, dir.path + "/bin/program") else {
      Issue.record("group-writable program accepted")
      return
    }
  }

  @Test func rootsSecretsAreReadableByNoOneElse() throws {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    dir.write("key", "x", mode: 0o640)
    let rule = TrustedFile(owners: [geteuid()], forbiddenMode: TrustedFile.rootSecret.forbiddenMode)
    guard case .insecurePermissions = failure(rule, dir.path + "/key") else { Issue.record("0640 accepted"); return }
    chmod(dir.path + "/key", 0o600)
    #expect(failure(rule, dir.path + "/key") == nil)
    let missing = try rule.openIfPresent(dir.path + "/missing")
    let isAbsent = missing == nil
    #expect(isAbsent)
  }
}
