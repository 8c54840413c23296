/// The login state of a file store: this host's state file for the user (`state`), where
/// every login's changes are made under one lock and written once (CredentialStore's note).
extension SecretFileStore {
  public func readState() throws(FileError) -> UserState { try state.peek(user: account.name) }

  public func noteEnrolled(now: Int64) throws(FileError) {
    try state.update(user: account.name) { (current) throws(FileError) in current.seenEnrolled = now }
  }

  public func session<Result>(_ body: (inout FileLoginSession<Privileges, State>) throws(FileError) -> Result)
    throws(FileError) -> Result
  {
    try state.update(user: account.name) { (current) throws(FileError) -> Result in
      var session = FileLoginSession(state: current, secrets: self)
      // Whatever the session did, even before a throw, is what gets written.
      defer { current = session.state }
      return try body(&session)
    }
  }

  public func reset(success: Int64?) throws(FileError) {
    try state.update(user: account.name) { (current) throws(FileError) in
      current.clearFailures()
      if let success { current.lastSuccess = success }
    }
  }
}
