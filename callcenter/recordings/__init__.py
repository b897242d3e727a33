"""Call recordings: the crash-safe stereo writer, the store that owns the recordings directory,
recovery after a crash, the write-back cache and the backends (local disk, S3-compatible) that
keep finished recordings, and the disk-space alarm. See README.md in this folder.

Importing this package opens no file and starts no thread; `WavRecordingStore` does on use.
"""
