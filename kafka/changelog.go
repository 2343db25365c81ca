package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

// Changelog record format, version 1. The record key is the series'
// canonical key; the record goes to the changelog partition of the same
// number as the points partition the series is consumed from. The value:
//
//	byte    version (1)
//	uvarint through: the points-partition offset the state includes up
//	        to, exclusive (every point of this series at a lower offset is
//	        learned in it, none at this offset or above)
//	varint  LastTs, varint LastUpdate
//	uvarint AnomalyID, uvarint LastID
//	varint  NeedPoints
//	rest    the model, models.Model.AppendBinary (itself versioned)
//
// A nil value (tombstone) would delete the series; compaction keeps the
// last record of each series.
const changelogVersion = 1

var errChangelog = errors.New("kafka: bad changelog record")

// appendState encodes s, which includes the partition's points below
// through, onto dst.
func appendState(dst []byte, s *series.SeriesState, through int64) []byte {
	dst = append(dst, changelogVersion)
	dst = binary.AppendUvarint(dst, uint64(through))
	dst = binary.AppendVarint(dst, s.LastTs)
	dst = binary.AppendVarint(dst, s.LastUpdate)
	dst = binary.AppendUvarint(dst, uint64(s.AnomalyID))
	dst = binary.AppendUvarint(dst, uint64(s.LastID))
	dst = binary.AppendVarint(dst, int64(s.NeedPoints))
	return s.Model.AppendBinary(dst)
}

// decodeState decodes a changelog value into s (Key is left to the
// caller) and returns the offset the state includes up to.
func decodeState(b []byte, s *series.SeriesState) (int64, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: empty", errChangelog)
	}
	if b[0] != changelogVersion {
		return 0, fmt.Errorf("%w: version %d, this build reads %d", errChangelog, b[0], changelogVersion)
	}
	b = b[1:]
	var bad bool
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	through := int64(uv())
	s.LastTs = sv()
	s.LastUpdate = sv()
	s.AnomalyID = anomaly.ID(uv())
	s.LastID = anomaly.ID(uv())
	s.NeedPoints = int32(sv())
	if bad || through < 0 {
		return 0, fmt.Errorf("%w: truncated header", errChangelog)
	}
	if err := s.Model.UnmarshalBinary(b); err != nil {
		return 0, fmt.Errorf("%w: model: %w", errChangelog, err)
	}
	return through, nil
}

// idsKey is the changelog key of a partition's reservation of anomaly ids
// (never a series key: a canonical key starts with a name). Its value:
//
//	byte    version (1)
//	uvarint the highest anomaly id (cluster.PartitionIDs) the owner that
//	        wrote it may hand out; its successor continues past it
const idsKey = "\x00anomaly-ids"

func appendIDs(dst []byte, last anomaly.ID) []byte {
	dst = append(dst, changelogVersion)
	return binary.AppendUvarint(dst, uint64(last))
}

func decodeIDs(b []byte) (anomaly.ID, error) {
	if len(b) < 2 || b[0] != changelogVersion {
		return 0, fmt.Errorf("%w: anomaly id record", errChangelog)
	}
	v, n := binary.Uvarint(b[1:])
	if n <= 0 {
		return 0, fmt.Errorf("%w: anomaly id record truncated", errChangelog)
	}
	return anomaly.ID(v), nil
}
