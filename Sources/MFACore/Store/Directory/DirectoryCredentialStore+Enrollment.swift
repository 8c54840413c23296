import CLibc

/// Writing enrollments (mfa-enroll, enroll=login): the file format split in two values.
extension DirectoryCredentialStore {
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

  /// A new enrollment, never over one that exists. The entry may be there without one: it
  /// keeps the replay state of an earlier enrollment, which must stay.
  func createEntry(_ enrollment: Enrollment) throws(FileError) {
    var (text, codes) = DirectoryCredentialStore.values(of: enrollment)
    defer { text.wipe() }
    var changes = [DirectoryChange(.add, Attribute.enrollment, [text])]
    if !codes.isEmpty { changes.append(DirectoryChange(.add, Attribute.backupCode, codes)) }
    let exists = FileError.system(SystemError("create enrollment", code: EEXIST))
    for _ in 0..<DirectoryCredentialStore.maxRounds {
      guard let entry = try connection.read(dn) else {
        let fresh = [
          DirectoryChange(.add, [UInt8]("objectClass"), [Attribute.objectClass]),
          DirectoryChange(.add, [UInt8]("uid"), [user]),
          DirectoryChange(.add, Attribute.revision, [[UInt8]("1")]),
        ]
        switch try connection.add(dn, fresh + changes) {
        case .done: return
        default: continue  // created meanwhile: look again
        }
      }
      if !entry.values(Attribute.enrollment).isEmpty { throw exists }
      switch try modifyEntry(try DirectoryCredentialStore.guardAbsence(in: entry) + changes) {
      case .done:
        cache.entry = nil
        return
      case .conflict, .noEntry: continue
      }
    }
    throw busy()
  }

  public func save(_ enrollment: Enrollment, replace: Bool) throws(FileError) {
    if !replace { return try createEntry(enrollment) }
    var (text, codes) = DirectoryCredentialStore.values(of: enrollment)
    defer { text.wipe() }
    let changes = [
      DirectoryChange(.replace, Attribute.enrollment, [text]), DirectoryChange(.replace, Attribute.backupCode, codes),
    ]
    if try modifyEntry(changes) == .noEntry { try createEntry(enrollment) }
  }

  public func updateEnrollment<Result>(_ body: (inout Enrollment) -> Result) throws(FileError) -> Result {
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
      switch try modifyEntry(changes) {
      case .done:
        cache.entry = nil
        return result
      case .conflict: continue
      case .noEntry: throw .notFound
      }
    }
    throw busy()
  }

  public func removeEnrollment() throws(FileError) {
    let changes = [
      DirectoryChange(.replace, Attribute.enrollment, []), DirectoryChange(.replace, Attribute.backupCode, []),
    ]
    if try modifyEntry(changes) == .noEntry { throw .notFound }
    cache.entry = nil
  }
}
