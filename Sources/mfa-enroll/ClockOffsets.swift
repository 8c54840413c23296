import MFACore

/// The clock offsets the module learned (ClockDrift), per authenticator, for status and doctor.
enum ClockOffsets {
  /// Doctor warns from here: a clock this far off is worth fixing at its source.
  static let largeSeconds: Int64 = 120

  struct Offset {
    let name: String
    let offset: Int64
    let period: Int
    var seconds: Int64 { abs(offset) * Int64(period) }
  }

  /// The learned offsets of `enrollment`'s authenticators.
  static func learned(_ drift: ClockDrift, enrollment: Enrollment?) -> [Offset] {
    var found: [Offset] = []
    for authenticator in enrollment?.authenticators ?? [] where authenticator.kind == .totp {
      let offset = drift.centre(of: authenticator.counterKey, bound: ClockDrift.maxBound)
      if offset != 0 {
        found.append(Offset(name: authenticator.name.text, offset: offset, period: authenticator.period))
      }
    }
    return found
  }

  /// "phone: +4 steps (+120 s), learned from its codes", and an offset seen once, not yet confirmed.
  static func lines(_ drift: ClockDrift, enrollment: Enrollment?, now: Int64) -> [String] {
    var lines = learned(drift, enrollment: enrollment).map {
      "\($0.name): \(ClockDrift.describe($0.offset, period: $0.period)), learned from its codes"
    }
    for authenticator in enrollment?.authenticators ?? [] where authenticator.kind == .totp {
      guard let seen = drift.seen.first(where: { $0.authenticator == authenticator.counterKey }), seen.until > now
      else { continue }
      lines.append(
        "\(authenticator.name.text): a code at \(ClockDrift.describe(seen.offset, period: authenticator.period)) "
          + "was refused; the next code at that offset before \(formatTime(seen.until)) is accepted")
    }
    return lines
  }
}
