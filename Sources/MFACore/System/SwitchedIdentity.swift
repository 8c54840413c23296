import CLibc

/// Runs `body` with a user's identity, the one shape of the module's `asUser` (PAMBridge:
/// pam_modutil_drop_priv) and the helper's (mfa_chkcode: setfsuid). `become` switches (false:
/// refused, named `becoming` in the error); `restore` switches back. Without root back the caller
/// must not go on (the rest of the stack, and root's own writes, expect it), so a failed
/// `restore` is the error even when `body` succeeded.
public func withSwitchedIdentity<Value>(
  becoming: String, _ become: () -> Bool, restoring: String, _ restore: () -> Bool,
  _ body: () throws(FileError) -> Value
) throws(FileError) -> Value {
  guard become() else { throw .system(SystemError(becoming, code: EPERM)) }
  let result: Result<Value, FileError>
  do throws(FileError) {
    result = .success(try body())
  } catch {
    result = .failure(error)
  }
  guard restore() else { throw .system(SystemError(restoring, code: EPERM)) }
  return try result.get()
}
