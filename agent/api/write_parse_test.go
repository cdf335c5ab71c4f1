package api

import (
	"bytes"
	"io"
	"time"

	"github.com/sluice-edge/sluice/connectors/point"
)

// parseCSV and parseJSONPoints parse a whole body with the streaming
// parsers, for the tests and fuzz targets.
func parseCSV(body []byte, stream string, now time.Time) ([]point.Point, error) {
	return parseAll(newCSVParser(bytes.NewReader(body), stream, now))
}

func parseJSONPoints(body []byte, stream string, now time.Time) ([]point.Point, error) {
	return parseAll(newJSONParser(bytes.NewReader(body), stream, now))
}

func parseAll(src pointParser) ([]point.Point, error) {
	var pts []point.Point
	for {
		var p point.Point
		if err := src.next(&p); err == io.EOF {
			return pts, nil
		} else if err != nil {
			return nil, err
		}
		pts = append(pts, p)
	}
}
