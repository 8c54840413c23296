import CLibc

/// The kernel CSPRNG (getrandom(2)); blocks only until the pool is initialised at boot.
public enum SystemRandom {
  public static func bytes(_ count: Int) throws(SystemError) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: count)
    var filled = 0
    while filled < count {
      do throws(SystemError) {
        filled += try buffer.withUnsafeMutableBufferPointer { (raw) throws(SystemError) -> Int in
          try retrying("getrandom") { getrandom(raw.baseAddress.map { $0 + filled }, count - filled, 0) }
        }
      } catch {
        buffer.wipe()
        throw error
      }
    }
    return buffer
  }
}
