package mongodb

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

const benchRecord = `{"name":"widget","status":"active","price":12.5,"qty":3,"tags":["a","b","c"],` +
	`"owner":{"id":"u-17","email":"someone@example.com"},"notes":"line one\nline \"two\""}`

func BenchmarkDecodeRecord(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		if _, err := decodeRecord([]byte(benchRecord)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRecord(b *testing.B) {
	doc, err := decodeRecord([]byte(benchRecord))
	if err != nil {
		b.Fatal(err)
	}
	raw, err := bson.Marshal(append(bson.D{{Key: "_id", Value: "01M8A85VMT2K9J9NZ6HPS1CV3Z"}, {Key: "_org", Value: "o"}}, doc...))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var buf []byte
	for range b.N {
		if buf, err = appendRecord(buf[:0], raw); err != nil {
			b.Fatal(err)
		}
	}
}
