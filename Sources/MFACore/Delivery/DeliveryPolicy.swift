/// Where the root-run delivery program may send codes. An address in a file the user writes
/// (their home) is unconfirmed: the user could put anyone's address there by hand and have root
/// send messages to it (spam, SMS toll fraud). Such an address is used only when the admin's
/// allow-list takes it (`deliver_domains=`, `deliver_numbers=`); addresses in a store users
/// cannot write (a root-owned store, the directory) were put there by root.
public enum DeliveryPolicy {
  public static func allows(_ delivery: DeliveryAddress, options: ModuleOptions, writtenByUser: Bool) -> Bool {
    guard writtenByUser else { return true }
    switch delivery.method {
    case .email:
      // "%" and "!" route mail on past the domain on some servers (old relay syntax).
      guard let at = delivery.address.lastIndex(of: 0x40),
        !delivery.address[..<at].contains(where: { $0 == 0x25 || $0 == 0x21 })
      else { return false }
      let domain = lowercased(Array(delivery.address[(at + 1)...]))
      return options.deliverDomains.contains(domain)
    case .sms:
      let number = delivery.address.first == 0x2B ? delivery.address : [0x2B] + delivery.address
      return options.deliverNumbers.contains { number.starts(with: $0) }
    }
  }

  /// The allow-list for one method, for messages: "deliver_domains=" or "deliver_numbers=".
  public static func setting(for method: DeliveryAddress.Method) -> String {
    method == .email ? "deliver_domains=" : "deliver_numbers="
  }

  static func lowercased(_ bytes: [UInt8]) -> [UInt8] {
    bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
  }

  /// "example.org,mail.example.org": host names of letters, digits, "-" and ".".
  static func domains(_ value: [UInt8]) -> [[UInt8]]? {
    let list = value.fields(separatedBy: 0x2C).map(lowercased)
    let valid = list.allSatisfy { domain in
      domain.count <= 253 && domain.first != ASCII.dot && domain.last != ASCII.dot && domain.first != ASCII.dash
        && domain.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ASCII.isDigit($0) || $0 == ASCII.dash || $0 == ASCII.dot }
    }
    return valid && !list.isEmpty ? list : nil
  }

  /// "+49,+4415": "+" and 1 to 15 digits each.
  static func numberPrefixes(_ value: [UInt8]) -> [[UInt8]]? {
    let list = value.fields(separatedBy: 0x2C)
    let valid = list.allSatisfy {
      $0.first == 0x2B && (2...16).contains($0.count) && $0.dropFirst().allSatisfy(ASCII.isDigit)
    }
    return valid && !list.isEmpty ? list : nil
  }
}
