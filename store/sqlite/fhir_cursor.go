package sqlite

import (
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/store/internal/fhircursor"
)

// The FHIR cursors are package fhircursor's, shared with the other SQL
// backend.

const cursorHistory = fhircursor.KindHistory

func historyCursor(c fhir.Cursor) (int64, error)        { return fhircursor.History(c) }
func encodeCursor(kind byte, vals ...int64) fhir.Cursor { return fhircursor.Encode(kind, vals...) }
