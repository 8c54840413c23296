extension ModuleOptions {
  /// A stack line's settings: its arguments over the configuration file, read by the host (or by
  /// `readConfig`), or nil when they are a configuration error, logged with what follows from it.
  static func resolve(
    arguments: [[UInt8]], host: some LoginHost, readConfig: ((String) throws(FileError) -> [UInt8]?)? = nil,
    orLogThat consequence: String = "refusing every login"
  ) -> ModuleOptions? {
    do throws(OptionError) {
      return try ModuleOptions.resolve(arguments: arguments) { (path) throws(FileError) -> [UInt8]? in
        if let readConfig { return try readConfig(path) }
        return try host.readConfigFile(path)
      }
    } catch {
      host.log(.error, "configuration error: " + error.description + "; " + consequence)
      return nil
    }
  }
}
