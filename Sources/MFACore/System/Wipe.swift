import CLibc

/// explicit_bzero: the compiler may not drop it as a dead store.
func wipeMemory(_ pointer: UnsafeMutableRawPointer, _ count: Int) {
  mfa_wipe(pointer, count)
}
