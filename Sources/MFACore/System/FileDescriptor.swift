import CLibc

/// An open file descriptor this process owns (after swift-system's `FileDescriptor`, but owned):
/// it is closed exactly once, when the value ends or by `close()`, so no error path can leak it
/// or close it twice, and "no descriptor" is `nil`, never -1. Every call goes through `retrying`.
@frozen public struct FileDescriptor: ~Copyable {
  public let rawValue: Int32

  /// Takes ownership of `rawValue`, e.g. one a C function made.
  public init(owning rawValue: Int32) {
    self.rawValue = rawValue
  }

  deinit { _ = CLibc.close(rawValue) }

  /// Closes it now (the other end of a pipe or socket sees the end of the stream).
  public consuming func close() {}

  /// Gives up ownership: the caller closes the raw descriptor.
  consuming func release() -> Int32 {
    let raw = rawValue
    discard self
    return raw
  }

  /// open(2), always close-on-exec. `operation` names the step in the error.
  public static func open(_ path: String, _ flags: Int32, mode: UInt32 = 0, operation: String = "open")
    throws(SystemError) -> FileDescriptor
  {
    FileDescriptor(owning: try at(AT_FDCWD, path, flags, mode: mode, operation: operation))
  }

  /// openat(2) relative to this directory, always close-on-exec.
  public func open(_ name: String, _ flags: Int32, mode: UInt32 = 0, operation: String = "open")
    throws(SystemError) -> FileDescriptor
  {
    FileDescriptor(owning: try FileDescriptor.at(rawValue, name, flags, mode: mode, operation: operation))
  }

  static func at(_ directory: Int32, _ path: String, _ flags: Int32, mode: UInt32, operation: String)
    throws(SystemError) -> Int32
  {
    try retrying(operation) { path.withCString { mfa_openat(directory, $0, flags | O_CLOEXEC, mode) } }
  }

  /// fstat(2).
  public func status(operation: String = "fstat") throws(SystemError) -> stat {
    var info = stat()
    try retrying(operation) { fstat(rawValue, &info) }
    return info
  }

  /// One read(2) into `buffer`; 0 at the end of the stream.
  public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
    try retrying("read") { CLibc.read(rawValue, buffer.baseAddress, buffer.count) }
  }

  /// From the current offset to the end; more than `maxSize` bytes is an error. Read straight
  /// into one buffer of `maxSize + 1` bytes: no copy, nothing read left behind in freed memory.
  public func readAll(maxSize: Int) throws(FileError) -> [UInt8] {
    var failure: SystemError?
    var contents = [UInt8](unsafeUninitializedCapacity: maxSize + 1) { buffer, filled in
      while filled < buffer.count {
        let rest = UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[filled...]))
        do throws(SystemError) {
          let count = try read(into: rest)
          if count == 0 { return }
          filled += count
        } catch {
          failure = error
          return
        }
      }
    }
    if let failure {
      contents.wipe()
      throw .system(failure)
    }
    if contents.count > maxSize {
      contents.wipe()
      throw .tooLarge
    }
    return contents
  }

  /// Exactly `count` bytes; nil when the stream ends (or fails) before them.
  public func read(exactly count: Int) -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: count)
    var filled = 0
    while filled < count {
      let got = try? buffer.withUnsafeMutableBufferPointer { (raw) throws(SystemError) in
        try read(into: UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: raw[filled...])))
      }
      guard let got, got > 0 else {
        buffer.wipe()
        return nil
      }
      filled += got
    }
    return buffer
  }

  /// All of `bytes`, at `offset` (pwrite(2)) or at the current position.
  public func writeAll(_ bytes: [UInt8], at offset: Int64? = nil, operation: String = "write") throws(SystemError) {
    try FileDescriptor.writeAll(bytes, operation) { base, count, done in
      guard let offset else { return CLibc.write(rawValue, base, count) }
      return pwrite(rawValue, base, count, off_t(offset + Int64(done)))
    }
  }

  /// All of `bytes` to a socket with MSG_NOSIGNAL, so a peer that died cannot kill this process
  /// with SIGPIPE; on something else (a pipe), a plain write.
  public func sendAll(_ bytes: [UInt8]) throws(SystemError) {
    try FileDescriptor.writeAll(bytes, "send") { base, count, _ in
      let sent = send(rawValue, base, count, Int32(MSG_NOSIGNAL))
      return sent < 0 && mfa_errno() == ENOTSOCK ? CLibc.write(rawValue, base, count) : sent
    }
  }

  /// The one write-all loop: `write` gets the rest of `bytes` and how much is already done.
  static func writeAll(
    _ bytes: [UInt8], _ operation: String, _ write: (UnsafeRawPointer, Int, Int) -> Int
  ) throws(SystemError) {
    var done = 0
    while done < bytes.count {
      let count = try bytes.withUnsafeBufferPointer { (raw) throws(SystemError) -> Int in
        guard let base = UnsafeRawPointer(raw.baseAddress) else { return 0 }
        return try retrying(operation) { write(base + done, raw.count - done, done) }
      }
      // A write that takes nothing would loop for ever: the other side is gone.
      if count == 0 { throw SystemError(operation, code: EPIPE) }
      done += count
    }
  }

  /// fsync(2): the data is on disk.
  public func sync(operation: String = "fsync") throws(SystemError) {
    try retrying(operation) { fsync(rawValue) }
  }

  /// fdatasync(2): the data (not every attribute) is on disk.
  public func syncData(operation: String = "fdatasync") throws(SystemError) {
    try retrying(operation) { fdatasync(rawValue) }
  }

  public func changeOwner(_ uid: UInt32, _ gid: UInt32) throws(SystemError) {
    try retrying("fchown") { fchown(rawValue, uid, gid) }
  }

  public func changeMode(_ mode: UInt32) throws(SystemError) {
    try retrying("fchmod") { fchmod(rawValue, mode) }
  }

  /// An exclusive flock(2), waiting as long as it takes.
  public func lockExclusive() throws(SystemError) {
    try retrying("flock") { flock(rawValue, LOCK_EX) }
  }

  /// Whether something can be read within `timeoutSeconds` (poll(2)).
  public func waitUntilReadable(timeoutSeconds: Int32) throws(SystemError) -> Bool {
    var ready = pollfd(fd: rawValue, events: Int16(POLLIN), revents: 0)
    return try retrying("poll") { poll(&ready, 1, timeoutSeconds * 1000) } > 0
  }

  /// unlinkat(2) of `name` in this directory.
  public func remove(_ name: String) throws(SystemError) {
    try retrying("unlink") { name.withCString { unlinkat(rawValue, $0, 0) } }
  }

  /// Renames `from` to `to`, both in this directory; with `replace: false` an existing `to` is
  /// never overwritten (EEXIST).
  public func rename(_ from: String, to: String, replace: Bool) throws(SystemError) {
    try retrying("rename") {
      from.withCString { old in
        to.withCString { new in
          replace ? renameat(rawValue, old, rawValue, new) : mfa_rename_noreplace(rawValue, old, rawValue, new)
        }
      }
    }
  }
}
