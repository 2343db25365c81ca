// Package snapshot is the on-disk format of the engine's baseline
// snapshots and the atomic, generational writing and checked reading of
// them. It knows nothing of models: a record carries a series' canonical
// key, the engine's bookkeeping and the model's encoding as opaque bytes.
//
// # Files
//
// A Store is a directory holding generations, one file each, named
// snapshot-<seq>.snap with a 20-digit decimal sequence number; the highest
// number is the newest. One file holds every shard: a generation then
// becomes visible with a single rename, so there is never a generation made
// of some shards' new files and others' old ones, and the series can be
// restored into an engine with a different shard count (series are placed
// by hash on import anyway).
//
// A generation is written to a temporary file in the same directory, synced,
// renamed into place and the directory synced, so that after a crash the
// name either does not exist or names a complete file. After a commit the
// Store deletes all but the newest Keep generations (default 2), so the
// previous good generation is there when the newest proves unreadable.
//
// # Layout (all integers little endian)
//
//	header  (48 bytes)
//	  magic          [8]byte  "ANOMSNAP"
//	  format version uint16   (FormatVersion)
//	  model version  uint8    (the model encoding version of the records)
//	  reserved       uint8, uint32 (zero)
//	  created        int64    Unix ns, when the snapshot began
//	  series         uint64   records in the file
//	  blocks         uint32   blocks in the file
//	  last anomaly   uint64   the highest anomaly id handed out so far
//	  crc            uint32   CRC-32C (Castagnoli) of the 44 bytes above
//	blocks, each
//	  count          uint32   records in the block
//	  length         uint32   payload bytes (at most MaxBlockBytes)
//	  payload        records, back to back
//	  crc            uint32   CRC-32C of count, length and payload
//	trailer (24 bytes)
//	  magic          [8]byte  "SNAPEND\n"
//	  series         uint64   as in the header
//	  blocks         uint32   as in the header
//	  crc            uint32   CRC-32C of the 20 bytes above
//
// A record is: uvarint key length, key, varint last learned timestamp
// (Unix ms), varint last update (Unix ns), uvarint open anomaly id, uvarint
// anomaly id of the last verdict, varint points still needed, uvarint model
// length, model bytes.
//
// Every block is checksummed on its own, so a damaged file is reported with
// the block and offset at fault; the header is written last (its series and
// block counts are known only at the end, since the engine is read shard by
// shard while ingest goes on) and the trailer makes a file cut short
// detectable even at a block boundary. Nothing may follow the trailer.
//
// # Reading
//
// A Reader checks everything it reads and returns an error wrapping
// ErrCorrupt (ErrChecksum, ErrTruncated) or ErrVersion; it never panics on
// any input (FuzzDecode). A caller that must not load half a state reads
// the file twice: Verify first, then Open and load.
package snapshot
