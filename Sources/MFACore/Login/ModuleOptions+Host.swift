extension ModuleOptions {
  /// A stack line's settings: its arguments over the configuration file the host reads.
  static func resolve(arguments: [[UInt8]], host: some LoginHost) throws(OptionError) -> ModuleOptions {
    try ModuleOptions.resolve(arguments: arguments) { (path) throws(FileError) -> [UInt8]? in
      try host.readConfigFile(path)
    }
  }
}
