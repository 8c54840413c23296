import CLibc

/// The time, for what has no LoginHost to ask (files written outside a login).
public enum SystemClock {
  /// Seconds since the epoch.
  public static func now() -> Int64 { Int64(time(nil)) }
}
