import CLibc

/// Runs `body` with a user's file-system identity on this thread (mfa_identity_become: setfsuid,
/// setfsgid and the user's primary group as the only supplementary group; no NSS lookup): the
/// one `asUser` of the module and the helper. Without root's identity back the caller must not
/// go on (the rest of the stack, and root's own writes, expect it), so a failed restore is the
/// error even when `body` succeeded.
public func withUserIdentity<Value>(
  _ account: UserAccount, _ body: () throws(FileError) -> Value
) throws(FileError) -> Value {
  var saved = mfa_identity()
  switch mfa_identity_become(&saved, account.uid, account.gid) {
  case 0: break
  case -1: throw .system(SystemError("switch to the user's file-system ids", code: EPERM))
  default: throw .system(SystemError("switch back to root's file-system ids", code: EPERM))
  }
  let result: Result<Value, FileError>
  do throws(FileError) {
    result = .success(try body())
  } catch {
    result = .failure(error)
  }
  guard mfa_identity_restore(&saved) == 0 else {
    throw .system(SystemError("switch back to root's file-system ids", code: EPERM))
  }
  return try result.get()
}
