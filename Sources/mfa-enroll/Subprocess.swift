import Glibc

/// Runs a program (no shell) and collects its standard output and error; nil if it could not
/// be started. For the few system tools `doctor` asks (sshd -T, timedatectl, chronyc).
func runProgram(_ arguments: [String]) -> (status: Int32, output: String)? {
  guard let program = arguments.first else { return nil }
  var pipeEnds: [Int32] = [0, 0]
  guard pipe(&pipeEnds) == 0 else { return nil }
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
  posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
  posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)
  posix_spawn_file_actions_addclose(&actions, pipeEnds[0])

  var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
  defer { for pointer in cArguments { free(pointer) } }
  var pid: pid_t = 0
  let started = posix_spawnp(&pid, program, &actions, nil, &cArguments, environ)
  close(pipeEnds[1])
  defer { close(pipeEnds[0]) }
  guard started == 0 else { return nil }

  var output: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 4096)
  while true {
    let count = read(pipeEnds[0], &buffer, buffer.count)
    if count < 0 && errno == EINTR { continue }
    if count <= 0 { break }
    if output.count < 1 << 20 { output += buffer[0..<count] }
  }
  var status: Int32 = 0
  while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
  // WEXITSTATUS for a normal exit; a signal shows as 128 + signal, like a shell.
  let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
  return (code, String(decoding: output, as: UTF8.self))
}

/// The first existing executable among `candidates` (absolute paths).
func findExecutable(_ candidates: [String]) -> String? {
  candidates.first { access($0, X_OK) == 0 }
}
