import Glibc
import MFACore

/// `mfa-enroll status --all [--json]`: one line (or JSON object) per enrolled user.
enum StatusReport {
  struct Row {
    let user: String
    let path: String
    let store: String
    let algorithm: String
    let backupCodes: Int
    let locked: Bool
    let lastSuccess: Int64
    let problem: String?
  }

  static func all(_ global: GlobalOptions, json: Bool) throws(CLIError) {
    guard getuid() == 0 else { throw CLIError(UserText("only root can list every user (status --all)")) }
    var base = global
    base.user = nil
    let options = try Target.resolve(base).options
    let now = Int64(time(nil))
    var rows: [Row] = []
    if options.store == .ldap {
      rows = try directoryRows(Target.resolve(base), now: now)
    }
    for account in allAccounts() where options.store == .files {
      guard
        let path = try? PathTemplate.expand(
          options.secretPath, user: Array(account.name.utf8), home: Array(account.home.utf8))
      else { continue }
      let store = SecretFileStore(
        path: path, account: account.core, privileges: CLIPrivileges(),
        state: FileStateStore(directory: options.stateDirectory))
      let kind = store.kind == .rootFile ? "root" : "home"
      let state = try? store.readState()
      do throws(FileError) {
        let enrollment = try store.readEnrollment()
        rows.append(
          Row(user: account.name, path: path, store: kind, enrollment: enrollment, problem: nil, state: state, now: now)
        )
      } catch .notFound {
        continue
      } catch .system(_) {
        // No home, or a path root cannot walk as the user: not an enrollment to report.
        continue
      } catch {
        rows.append(
          Row(
            user: account.name, path: path, store: kind, enrollment: nil, problem: error.description, state: state,
            now: now))
      }
    }
    if json {
      let list = "[" + rows.map(jsonObject).joined(separator: ",\n ") + "]"
      Terminal.showLine(Array(list.utf8))
      return
    }
    // Headings in the user's language (the JSON above stays as scripts expect it).
    let headings = [
      UserText("USER"), UserText("STORE"), UserText("ALGORITHM"), UserText("BACKUP"), UserText("LOCKED"),
      UserText("LAST SUCCESS"),
    ].map(\.string)
    let widths = zip([16, 6, 10, 7, 7], headings).map { max($0, $1.count + 1) }
    let yes = UserText("yes").string
    let no = UserText("no").string
    Terminal.showLine(Array((zip(headings, widths).map { $0.padding($1) }.joined() + headings[5]).utf8))
    for row in rows {
      let last = row.lastSuccess > 0 ? formatTime(row.lastSuccess) : "-"
      let algorithm =
        row.problem == nil ? row.algorithm : UserText("unusable: %s", .verbatim(row.problem ?? "")).string
      // Names come from the directory too, which any host may write: no terminal controls.
      let line =
        visible(row.user).padding(widths[0]) + row.store.padding(widths[1]) + visible(algorithm).padding(widths[2])
        + String(row.backupCodes).padding(widths[3]) + (row.locked ? yes : no).padding(widths[4]) + last
      Terminal.showLine(Array(line.utf8))
    }
  }

  /// `text` with control characters shown as `\xNN`.
  static func visible(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
      if scalar.value < 0x20 || (scalar.value >= 0x7F && scalar.value < 0xA0) {
        let hex = String(scalar.value, radix: 16)
        out += "\\x" + (hex.count < 2 ? "0" : "") + hex
      } else {
        out.unicodeScalars.append(scalar)
      }
    }
    return out
  }

  /// With store=ldap: every pam_mfa entry under ldap_base, the fleet's users whether or not
  /// they have an account here (one search, paged).
  static func directoryRows(_ target: Target, now: Int64) throws(CLIError) -> [Row] {
    let store = try target.directoryStore(for: target.account.name)
    var listed: [(dn: [UInt8], entry: DirectoryEntry)]
    do throws(FileError) {
      listed = try store.connection.list(store.base, filter: Array("(objectClass=pamMfaAccount)".utf8))
    } catch {
      throw CLIError(UserText("directory unavailable: %s", .verbatim(error.description)))
    }
    defer { for index in listed.indices { listed[index].entry.wipe() } }
    var rows: [Row] = []
    for (dn, entry) in listed {
      guard let user = entry.values(Array("uid".utf8)).first else { continue }
      let state = DirectoryCredentialStore<PluginConnection, FileStateStore>.state(in: entry)
      do throws(FileError) {
        var enrollment = try DirectoryCredentialStore<PluginConnection, FileStateStore>.enrollment(in: entry)
        defer { enrollment.wipe() }
        rows.append(
          Row(
            user: user.text, path: dn.text, store: "ldap", enrollment: enrollment, problem: nil, state: state, now: now)
        )
      } catch .notFound {
        continue  // reset or disabled: the entry keeps only replay state
      } catch {
        rows.append(
          Row(
            user: user.text, path: dn.text, store: "ldap", enrollment: nil, problem: error.description, state: state,
            now: now))
      }
    }
    return rows.sorted { $0.user < $1.user }
  }

  static func allAccounts() -> [LocalAccount] {
    var accounts: [LocalAccount] = []
    setpwent()
    defer { endpwent() }
    while let entry = getpwent() {
      if let account = HostSystem.account(entry.pointee) { accounts.append(LocalAccount(account)) }
    }
    return accounts
  }

  static func jsonObject(_ row: Row) -> String {
    var fields = [
      "\"user\": " + jsonString(row.user), "\"secret_file\": " + jsonString(row.path),
      "\"store\": " + jsonString(row.store), "\"algorithm\": " + jsonString(row.algorithm),
      "\"backup_codes_left\": \(row.backupCodes)", "\"locked\": \(row.locked)",
      "\"last_success\": " + (row.lastSuccess > 0 ? jsonString(formatTime(row.lastSuccess)) : "null"),
    ]
    fields.append("\"problem\": " + (row.problem.map(jsonString) ?? "null"))
    return "{" + fields.joined(separator: ", ") + "}"
  }

  /// A JSON string literal: quotes, backslashes and control characters escaped.
  static func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\t": out += "\\t"
      default:
        if scalar.value < 0x20 {
          let hex = String(scalar.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out + "\""
  }
}

extension StatusReport.Row {
  /// A row from what could be read: the enrollment (nil when `problem` says why not) and the state.
  init(
    user: String, path: String, store: String, enrollment: Enrollment?, problem: String?, state: UserState?,
    now: Int64
  ) {
    self.init(
      user: user, path: path, store: store,
      algorithm: enrollment?.authenticators.map { $0.algorithm.name }.joined(separator: ",") ?? "",
      backupCodes: enrollment?.backupCodes.count ?? 0, locked: state?.isLocked(at: now) ?? false,
      lastSuccess: state?.lastSuccess ?? 0, problem: problem)
  }
}
