/// Reads a user's secret file from either kind of store:
///   - a root-owned store (the file's directory and all above it owned by root and writable by
///     no one else, e.g. /var/lib/pam_mfa): read as root; the file may be owned by root or the user;
///   - anywhere else (the user's home): read with the user's privileges, so root never follows a
///     link the user planted; the file must be owned by the user.
/// Either way: no symlink, a regular file, no group or other permissions.
public enum SecretFileReader {
  public static func read(
    path: String, account: UserAccount, asUser: (() throws(FileError) -> [UInt8]) throws(FileError) -> [UInt8]
  ) throws(FileError) -> [UInt8] {
    let (directory, _) = try SafeFile.split(path)
    if SafeFile.isRootOwnedDirectory(directory) {
      return try SafeFile.read(path: path, owners: [0, account.uid], maxSize: SecretFileFormat.maxSize)
    }
    return try asUser { () throws(FileError) -> [UInt8] in
      try SafeFile.read(path: path, owners: [account.uid], maxSize: SecretFileFormat.maxSize)
    }
  }

  /// Whether `path` is in a root-owned store (then root writes it, owned by root).
  public static func isRootStore(_ path: String) -> Bool {
    guard let (directory, _) = try? SafeFile.split(path) else { return false }
    return SafeFile.isRootOwnedDirectory(directory)
  }
}
