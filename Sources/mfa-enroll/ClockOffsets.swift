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

  /// "+4 steps (+120 s)", in the user's language (ClockDrift.describe is the log's English).
  static func describe(_ offset: Int64, period: Int) -> UserText {
    let sign = offset < 0 ? "-" : "+"
    let steps = abs(offset)
    return .plural(
      "%s%d step (%s%s s)", "%s%d steps (%s%s s)", count: steps, .verbatim(sign), .verbatim(sign),
      .verbatim(String(steps * Int64(period))))
  }

  /// "phone: +4 steps (+120 s), learned from its codes", and an offset seen once, not yet confirmed.
  static func lines(_ drift: ClockDrift, enrollment: Enrollment?, now: Int64) -> [UserText] {
    var lines = learned(drift, enrollment: enrollment).map {
      UserText("%s: %s, learned from its codes", .verbatim($0.name), .text(describe($0.offset, period: $0.period)))
    }
    for authenticator in enrollment?.authenticators ?? [] where authenticator.kind == .totp {
      guard let seen = drift.seen.first(where: { $0.authenticator == authenticator.counterKey }), seen.until > now
      else { continue }
      lines.append(
        UserText(
          "%s: a code at %s was refused; the next code at that offset before %s is accepted",
          .verbatim(authenticator.name.text), .text(describe(seen.offset, period: authenticator.period)),
          .verbatim(formatTime(seen.until))))
    }
    return lines
  }
}
