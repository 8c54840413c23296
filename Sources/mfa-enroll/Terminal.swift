import Glibc
import MFACore

/// Where questions go and answers come from: the terminal, or a script's pipe. What a person
/// reads is a UserText, shown in their language (setlocale in MFAEnroll.main).
enum Terminal {
  static var isInteractive: Bool { isatty(STDIN_FILENO) == 1 }

  /// Shows `question` without a newline and reads one line; nil at end of input.
  static func ask(_ question: UserText) -> String? {
    write(question.rendered(), to: STDOUT_FILENO)
    fflush(nil)
    let answer = readLine(strippingNewline: true)
    // A terminal echoes the newline; a pipe does not, so end the prompt line ourselves.
    if !isInteractive { showLine([]) }
    return answer
  }

  /// `ask`, the answer as bytes for the core.
  static func askBytes(_ question: UserText) -> [UInt8]? {
    ask(question).map { Array($0.utf8) }
  }

  /// One line on stdout, in the user's language.
  static func show(_ line: UserText) {
    showLine(line.rendered())
  }

  /// Bytes already rendered (or never translated: a QR code, a URI), and a newline.
  static func showLine(_ bytes: [UInt8]) {
    write(bytes + [UInt8(ascii: "\n")], to: STDOUT_FILENO)
  }

  /// One line on stderr, in the user's language.
  static func showError(_ line: UserText) {
    printError(line.rendered())
  }

  static func printError(_ message: [UInt8]) {
    write(message + [UInt8(ascii: "\n")], to: STDERR_FILENO)
  }

  /// All of `bytes` to `descriptor`, after whatever stdio still holds (in order with `print`).
  private static func write(_ bytes: [UInt8], to descriptor: Int32) {
    fflush(nil)
    bytes.withUnsafeBytes { buffer in
      guard let base = buffer.baseAddress else { return }
      var done = 0
      while done < buffer.count {
        let written = Glibc.write(descriptor, base + done, buffer.count - done)
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return }
        done += written
      }
    }
  }
}

extension UserText {
  /// The rendered text as a String, for the help texts ArgumentParser prints.
  var string: String { String(decoding: rendered(), as: UTF8.self) }
}
