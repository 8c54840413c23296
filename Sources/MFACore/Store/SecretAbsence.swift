import CLibc

/// Whether a missing secret file really means "not enrolled". A file that is merely out of
/// reach (a home not mounted yet, a directory someone else could rename) must never let an
/// enrolled user in without a code.
enum SecretAbsence {
  /// What `mfa-enroll disable` (and `reset`) leaves next to the removed secret file.
  static func markerPath(_ secretPath: String) -> String { secretPath + ".disabled" }

  static func marker(at time: Int64) -> [UInt8] {
    [UInt8](("pam_mfa disabled at=" + String(time) + "\n").utf8)
  }

  /// The time in a marker; nil when it is not one.
  static func markerTime(_ contents: [UInt8]) -> Int64? {
    let prefix = [UInt8]("pam_mfa disabled at=".utf8)
    guard contents.starts(with: prefix), contents.last == ASCII.newline else { return nil }
    return Int64(Array(contents[prefix.count..<contents.count - 1]).text)
  }

  /// Like sshd's StrictModes: every directory from the file's up to the home directory (or `/`
  /// outside it) must be owned by root or the user and writable by no one else (root's sticky
  /// directories such as /tmp excepted). The walk follows no link: a link on the way must be
  /// root's, and the directories it leads to pass the same rule. A missing home directory is a
  /// home not mounted. Returns what is wrong, for the admin's log; nil when the absence can be
  /// trusted.
  static func unsafeDirectory(path: String, account: UserAccount) -> String? {
    // Bytes, not String: comparing Strings needs Unicode tables the embedded module lacks.
    var home = account.home
    while home.count > 1 && home.last == ASCII.slash { home.removeLast() }
    let underHome = [UInt8](path.utf8).starts(with: home + [ASCII.slash])
    if underHome {
      do throws(SystemError) {
        _ = try SafeFile.status(home.text, follow: true)
      } catch {
        return "home directory " + home.text + " cannot be reached (" + error.description + "; not mounted?)"
      }
    }
    // The deepest entry on the way that exists (a link counts: lstat).
    var current = parent([UInt8](path.utf8))
    while current != [ASCII.slash] {
      do throws(SystemError) {
        _ = try SafeFile.status(current.text, follow: false)
        break
      } catch {
        // Only "not there" goes up; anything else (EACCES) means we cannot tell.
        guard error.code == ENOENT else { return unreachable(current.text, error) }
        current = parent(current)
      }
    }
    while true {
      let name = current.text
      let info: stat
      do throws(SystemError) {
        info = try SafeFile.status(name, follow: false)
      } catch {
        return unreachable(name, error)
      }
      if info.st_mode & 0o170000 == 0o120000 {
        guard info.st_uid == 0 else {
          return "directory " + name + " is a symbolic link owned by uid " + String(info.st_uid)
            + ": its owner could point it anywhere"
        }
        // A link root made (/home -> /srv/home): where it leads must pass too.
        do throws(SystemError) {
          if let problem = unsafeChain(try SafeFile.resolved(name), account: account) { return problem }
        } catch {
          return unreachable(name, error)
        }
      } else if let problem = unsafe(name, info, account: account) {
        return problem
      }
      if current == [ASCII.slash] || (underHome && current == home) { return nil }
      current = parent(current)
    }
  }

  /// A resolved directory and all above it, by the same rule.
  static func unsafeChain(_ real: [UInt8], account: UserAccount) -> String? {
    var current = real
    while true {
      let name = current.text
      do throws(SystemError) {
        if let problem = unsafe(name, try SafeFile.status(name, follow: true), account: account) { return problem }
      } catch {
        return unreachable(name, error)
      }
      if current == [ASCII.slash] { return nil }
      current = parent(current)
    }
  }

  /// A directory only root or the user can change; nil when it is one.
  static func unsafe(_ name: String, _ info: stat, account: UserAccount) -> String? {
    if info.st_mode & 0o170000 != 0o040000 { return name + " is not a directory" }
    if info.st_uid != 0 && info.st_uid != account.uid {
      return "directory " + name + " is owned by uid " + String(info.st_uid)
        + ", not by root or the user: its owner could move the secret file away"
    }
    let sticky = info.st_uid == 0 && info.st_mode & 0o1000 != 0
    if info.st_mode & 0o022 != 0 && !sticky {
      return "directory " + name + " has mode " + octal(info.st_mode)
        + ": group or others could move the secret file away (chmod go-w)"
    }
    return nil
  }

  static func unreachable(_ directory: String, _ error: SystemError) -> String {
    "directory " + directory + " cannot be checked (" + error.description + ")"
  }

  static func parent(_ path: [UInt8]) -> [UInt8] {
    var bytes = path
    while bytes.count > 1 && bytes.last == ASCII.slash { bytes.removeLast() }
    while let last = bytes.last, last != ASCII.slash { bytes.removeLast() }
    while bytes.count > 1 && bytes.last == ASCII.slash { bytes.removeLast() }
    return bytes.isEmpty ? [ASCII.slash] : bytes
  }
}
