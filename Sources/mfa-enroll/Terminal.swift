import Glibc

/// Where questions go and answers come from: the terminal, or a script's pipe.
enum Terminal {
  static var isInteractive: Bool { isatty(STDIN_FILENO) == 1 }

  /// Prints `question` without a newline and reads one line; nil at end of input.
  static func ask(_ question: String) -> String? {
    print(question, terminator: "")
    fflush(nil)
    let answer = readLine(strippingNewline: true)
    // A terminal echoes the newline; a pipe does not, so end the prompt line ourselves.
    if !isInteractive { print("") }
    return answer
  }

  /// `ask`, the answer as bytes for the core.
  static func askBytes(_ question: String) -> [UInt8]? {
    ask(question).map { Array($0.utf8) }
  }

  static func printError(_ message: String) {
    fflush(nil)
    var line = message + "\n"
    line.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
  }
}
