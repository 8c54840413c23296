import Testing

@testable import MFACore

@Suite struct CodeInputTests {
  @Test func acceptsDigitsWithSpaces() throws {
    #expect(try CodeInput.digits([UInt8]("123456")).text == "123456")
    #expect(try CodeInput.digits([UInt8](" 123 456\t")).text == "123456")
    #expect(try CodeInput.digits([UInt8]("12345678")).text == "12345678")
  }

  @Test func rejectsEverythingElse() {
    #expect(throws: CodeInputError.empty) { try CodeInput.digits([]) }
    #expect(throws: CodeInputError.empty) { try CodeInput.digits([UInt8]("   ")) }
    #expect(throws: CodeInputError.invalidCharacter) { try CodeInput.digits([UInt8]("12a456")) }
    #expect(throws: CodeInputError.invalidCharacter) { try CodeInput.digits([UInt8]("123-456")) }
    #expect(throws: CodeInputError.invalidCharacter) { try CodeInput.digits([0x31, 0x32, 0x00, 0x33]) }
    #expect(throws: CodeInputError.invalidCharacter) { try CodeInput.digits([0x31, 0xFF, 0xFE]) }
    #expect(throws: CodeInputError.tooLong) { try CodeInput.digits([UInt8]("123456789")) }
    #expect(throws: CodeInputError.tooLong) {
      try CodeInput.digits([UInt8](repeating: ASCII.space, count: 65))
    }
  }
}

@Suite struct ModuleOptionsTests {
  func parse(_ arguments: [String]) throws(OptionError) -> ModuleOptions {
    try ModuleOptions.parse(arguments.map { [UInt8]($0) })
  }

  @Test func defaults() throws {
    let options = try parse([])
    #expect(options.secretPath == "~/.config/pam_mfa/secret")
    #expect(!options.nullOK)
    #expect(options.window == 1)
    #expect(options.stateDirectory == "/var/lib/pam_mfa/state")
    #expect(!options.debug)
  }

  @Test func parsesEveryOption() throws {
    let options = try parse(["secret=/x/${USER}", "nullok", "window=3", "state_dir=/s", "debug"])
    #expect(options.secretPath == "/x/${USER}")
    #expect(options.nullOK)
    #expect(options.window == 3)
    #expect(options.stateDirectory == "/s")
    #expect(options.debug)
  }

  @Test(arguments: [
    ["foo=bar"], ["nullok=1"], ["window"], ["window=11"], ["window=-1"], ["window=abc"], ["secret="],
    ["state_dir=relative"], ["NULLOK"],
  ])
  func rejectsBadArguments(arguments: [String]) {
    #expect(throws: OptionError.self) { try parse(arguments) }
  }

  @Test func unknownOptionIsNamed() {
    do throws(OptionError) {
      _ = try parse(["nullok", "foo=bar"])
      Issue.record("accepted")
    } catch {
      #expect(error.description.contains("'foo'"))
      #expect(!error.description.contains("bar"))
    }
  }
}

@Suite struct PathTemplateTests {
  @Test func expandsUserHomeAndTilde() throws {
    let user = [UInt8]("alice")
    let home = [UInt8]("/home/alice")
    #expect(
      try PathTemplate.expand("~/.config/pam_mfa/secret", user: user, home: home)
        == "/home/alice/.config/pam_mfa/secret")
    #expect(try PathTemplate.expand("/var/lib/pam_mfa/${USER}", user: user, home: home) == "/var/lib/pam_mfa/alice")
    #expect(try PathTemplate.expand("${HOME}/.mfa-${USER}", user: user, home: home) == "/home/alice/.mfa-alice")
    #expect(try PathTemplate.expand("~", user: user, home: home) == "/home/alice")
  }

  @Test func rejectsOtherForms() {
    let user = [UInt8]("alice")
    let home = [UInt8]("/home/alice")
    #expect(throws: FileError.self) { try PathTemplate.expand("~bob/x", user: user, home: home) }
    #expect(throws: FileError.self) { try PathTemplate.expand("/x/$USER", user: user, home: home) }
    #expect(throws: FileError.self) { try PathTemplate.expand("/x/${SHELL}", user: user, home: home) }
    #expect(throws: FileError.self) { try PathTemplate.expand("relative/${USER}", user: user, home: home) }
  }

  @Test func userNamesThatCouldEscapeAPathAreUnsafe() {
    #expect(PathTemplate.isSafeUserName([UInt8]("alice")))
    #expect(PathTemplate.isSafeUserName([UInt8]("alice.smith@corp")))
    for name in ["", ".", "..", "../root", "a/b", "-x", "a\nb"] {
      #expect(!PathTemplate.isSafeUserName([UInt8](name)), "\(name)")
    }
  }
}

@Suite struct UserStateTests {
  @Test func roundTrips() throws {
    var state = UserState()
    state.setLastStep(59_000_000, of: [UInt8]("default"))
    state.setLastStep(12, of: [UInt8]("tablet"))
    state.setLastStep(59_000_001, of: [UInt8]("default"))
    let parsed = try UserStateFormat.parse(UserStateFormat.serialize(state))
    #expect(parsed == state)
    #expect(parsed.lastStep(of: [UInt8]("default")) == 59_000_001)
  }

  @Test(arguments: [
    "", "totp-step default 1\n", "pam_mfa-state 2\n", "pam_mfa-state 1\ntotp-step default x\n",
    "pam_mfa-state 1\ntotp-step default 1\ntotp-step default 2\n", "pam_mfa-state 1\nfailures 3\n",
  ])
  func rejectsMalformedState(text: String) {
    #expect(throws: FormatError.self) { try UserStateFormat.parse([UInt8](text)) }
  }
}
