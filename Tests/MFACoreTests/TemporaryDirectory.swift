import Glibc

/// A fresh directory under /tmp, removed with everything in it by `remove()`.
struct TemporaryDirectory {
  let path: String

  init() {
    var template = Array("/tmp/mfacore-test-XXXXXX".utf8CString)
    let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(result != nil, "mkdtemp failed")
    path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
  }

  func remove() {
    _ = system("rm -rf '\(path)'")
  }

  func write(_ name: String, _ text: String, mode: mode_t = 0o600) {
    let full = path + "/" + name
    let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC, mode)
    precondition(fd >= 0)
    _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    fchmod(fd, mode)
    close(fd)
  }

  func read(_ name: String) -> String? {
    readBytes(name).map { String(decoding: $0, as: UTF8.self) }
  }

  func readBytes(_ name: String) -> [UInt8]? {
    guard let file = fopen(path + "/" + name, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    while true {
      let c = fgetc(file)
      if c == EOF { break }
      bytes.append(UInt8(c))
    }
    return bytes
  }

  func mode(_ name: String) -> mode_t {
    var info = stat()
    _ = lstat(path + "/" + name, &info)
    return info.st_mode & 0o7777
  }

  func entries() -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
      let name = withUnsafePointer(to: entry.pointee.d_name) {
        $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
  }
}
