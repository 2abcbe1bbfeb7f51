// Package tail follows files matched by glob patterns and hands out their
// complete lines with the byte offsets they came from. Files are tracked by
// identity (device, inode and a fingerprint of their first bytes), not by
// path, so rename rotation and copytruncate are followed; checkpoints
// persist what has been committed, so a restart resumes exactly there.
package tail
