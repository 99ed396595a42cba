/**
 * Lets go of what an error's captured stack trace holds. Until its `stack` is read, V8 keeps the frames
 * themselves, with their receivers: for a transport's crash, the supervisor of the dead transport and so
 * the transport, its buffers and its SDK objects. Whoever keeps the error (a caller, a lifecycle event, a
 * log sink) would keep all of them. Reading `stack` turns the frames into a string; it is done in a task of
 * its own, after the callers waiting on the path that made the error have been told.
 *
 * @internal
 */
export const releaseFrames = <E extends Error>(error: E): E => {
  setTimeout(() => {
    try {
      void error.stack
    } catch {
      // a throwing `Error.prepareStackTrace` is no reason to fail anything
    }
  }, 0)
  return error
}
