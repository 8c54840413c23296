import CLibc

/// The kernel CSPRNG (getrandom(2)); blocks only until the pool is initialised at boot.
public enum SystemRandom {
  public static func bytes(_ count: Int) throws(SystemError) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: count)
    var filled = 0
    while filled < count {
      let result = buffer.withUnsafeMutableBytes { raw in
        guard let base = raw.baseAddress else { return 0 }
        return getrandom(base + filled, count - filled, 0)
      }
      if result < 0 {
        let code = mfa_errno()
        if code == EINTR { continue }
        buffer.wipe()
        throw SystemError("getrandom", code: code)
      }
      filled += result
    }
    return buffer
  }
}
