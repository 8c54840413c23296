/// A login's operations against the directory: each one conditional modify, retried after a
/// conflict (another host got there first) with what is there now.
extension DirectoryCredentialStore: LoginSession {
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
      switch try swap(Attribute.failures, in: entry, old: old.map { [$0] } ?? [], new: record.text, also: []) {
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

  /// Moves the authenticator's `pamMfaStep` from what was read (the highest, where a merge of
  /// two servers left several; all of them are replaced) to what `decide` returns (nil:
  /// refuse), together with the success changes, in one modify.
  func moveMark(kind: [UInt8], of authenticator: [UInt8], now: Int64, _ decide: (Int64?) -> Int64?)
    throws(FileError) -> Bool
  {
    for round in 0..<DirectoryCredentialStore.maxRounds {
      let entry = try entry(fresh: round > 0)
      var old: [[UInt8]] = []
      var current: Int64?
      for value in entry.values(Attribute.step) {
        guard let mark = StepValue(value), mark.kind == kind, mark.name == authenticator else { continue }
        old.append(value)
        current = max(current ?? mark.number, mark.number)
      }
      guard let next = decide(current) else { return false }
      let prefix = StepValue.prefix(kind: kind, name: authenticator)
      let new = prefix + [UInt8](String(next))
      switch try swap(Attribute.step, in: entry, old: old, new: new, also: successChanges(now)) {
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
    switch try modifyEntry(changes) {
    case .done:
      cache.entry = nil
      return values.count - 1
    case .conflict: return nil  // another login used it a moment ago
    case .noEntry: throw .notFound
    }
  }

  public func consumeSentCode(_ code: [UInt8], now: Int64) throws(FileError) -> Bool {
    guard
      try local.update(
        user: user, { (state) throws(FileError) -> Bool in CodeDelivery.consume(code, state: &state, now: now) })
    else { return false }
    try reset(success: now)
    return true
  }

  /// Replaces the offsets whole: two hosts learning at once may lose one's change, which
  /// costs a user a second code, never a guarantee.
  public func updateDrift(_ change: (inout ClockDrift) -> Void) throws(FileError) {
    let entry = try entry(fresh: false)
    let old = DirectoryCredentialStore.state(in: entry).drift
    var drift = old
    change(&drift)
    guard drift != old else { return }
    let changes = [DirectoryChange(.replace, Attribute.clockOffset, drift.records)]
    if try modifyEntry(changes) == .done, var cached = cache.entry {
      cached.apply(changes)
      cache.entry = cached
    }
  }

  public func remember(_ remoteHost: [UInt8], now: Int64, for duration: Int64) throws(FileError) {
    try local.update(user: user) { (state) throws(FileError) in state.remember(remoteHost, at: now, for: duration) }
  }

  public func reset(success: Int64?) throws(FileError) {
    var changes = [DirectoryChange(.replace, Attribute.failures, [])]
    if let success { changes.append(DirectoryChange(.replace, Attribute.lastSuccess, [[UInt8](String(success))])) }
    if try modifyEntry(changes) == .done { cache.entry = nil }
  }

  func successChanges(_ now: Int64) -> [DirectoryChange] {
    [
      DirectoryChange(.replace, Attribute.failures, []),
      DirectoryChange(.replace, Attribute.lastSuccess, [[UInt8](String(now))]),
    ]
  }
}
