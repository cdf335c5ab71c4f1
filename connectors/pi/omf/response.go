package omf

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Responses are written in PI Web API's OMF response shape (response
// shell -> message responses -> events), so that tools that read PI's
// answers read ours: the index of the object in the body that an event is
// about (MessageIndex; null for the request as a whole), each event's code,
// severity and text, and a status per message.

// PI Web API's OMF event codes that the endpoint uses.
const (
	evNotSupported    = 1002 // FeatureNotSupported (501)
	evStorageFailed   = 1003 // StorageLayerTransactionsFailed
	evUndefined       = 1005 // FeatureImplementationUndefined (warning)
	evCannotRepresent = 1006 // ResourceCannotBeRepresented (409)
	evMissingHeader   = 2001 // MissingRequiredOmfHeader
	evDuplicateHeader = 2002 // DuplicateOmfHeaderSpecified
	evAction          = 2003 // ActionNotValid
	evCompression     = 2004 // CompressionNotValid
	evMessageType     = 2005 // MessageTypeNotValid
	evMessageFormat   = 2006 // MessageFormatNotValid
	evOMFVersion      = 2007 // OmfVersionNotValid
	evDecompression   = 3001 // MessageDecompressionFailure
	evParser          = 3002 // ParserException
	evValue           = 3003 // ValueUnableToBeParsed
	evRange           = 3004 // ValueOutOfRange
)

// Event severities.
const (
	sevError   = "Error"
	sevWarning = "Warning"
)

// omfEvent is one event about a request or one object of it.
type omfEvent struct {
	Code     int
	Status   int // HTTP status the event stands for; 0 for warnings
	Severity string
	Message  string
	Reason   string
	Params   [][2]string
}

// outcome collects the events of one request, by object index (-1: the
// request as a whole).
type outcome struct {
	events map[int][]omfEvent
	order  []int
	errors int
}

// maxEventsPerMessage bounds the events listed for one object; the rest
// are summarised.
const maxEventsPerMessage = 20

func (o *outcome) add(index int, ev omfEvent) {
	if o.events == nil {
		o.events = map[int][]omfEvent{}
	}
	if _, ok := o.events[index]; !ok {
		o.order = append(o.order, index)
	}
	if ev.Severity == sevError {
		o.errors++
	}
	evs := o.events[index]
	if len(evs) == maxEventsPerMessage {
		evs = append(evs, omfEvent{Code: ev.Code, Status: ev.Status, Severity: ev.Severity,
			Message: "More events of this message are not listed."})
	}
	if len(evs) > maxEventsPerMessage {
		if ev.Severity == sevError && evs[len(evs)-1].Severity != sevError {
			evs[len(evs)-1].Severity, evs[len(evs)-1].Status = sevError, ev.Status
		}
		o.events[index] = evs
		return
	}
	o.events[index] = append(evs, ev)
}

// errorf adds an error event.
func (o *outcome) errorf(index, code, status int, params [][2]string, format string, args ...any) {
	o.add(index, omfEvent{Code: code, Status: status, Severity: sevError, Message: fmt.Sprintf(format, args...), Params: params})
}

// warnf adds a warning event.
func (o *outcome) warnf(index, code int, format string, args ...any) {
	o.add(index, omfEvent{Code: code, Severity: sevWarning, Message: fmt.Sprintf(format, args...)})
}

func (o *outcome) failed() bool { return o.errors > 0 }

// status is the HTTP status of the request: 400 if any object is
// malformed, else the status of the first error, else 200 with warnings
// to report or 204 without.
func (o *outcome) status() int {
	first := 0
	for _, i := range o.order {
		for _, ev := range o.events[i] {
			if ev.Severity != sevError {
				continue
			}
			if ev.Status == http.StatusBadRequest {
				return http.StatusBadRequest
			}
			if first == 0 {
				first = ev.Status
			}
		}
	}
	switch {
	case first != 0:
		return first
	case len(o.order) > 0:
		return http.StatusOK
	}
	return http.StatusNoContent
}

// The JSON shapes (PI Web API: response shell, message response, event
// response, event information, status response).
type (
	respShell struct {
		OperationID string        `json:"OperationId"`
		Messages    []respMessage `json:"Messages"`
	}
	respMessage struct {
		MessageIndex *int        `json:"MessageIndex"`
		Events       []respEvent `json:"Events"`
		Status       respStatus  `json:"Status"`
	}
	respEvent struct {
		EventInfo     respEventInfo `json:"EventInfo"`
		ExceptionInfo any           `json:"ExceptionInfo"`
		Severity      string        `json:"Severity"`
		InnerEvents   []respEvent   `json:"InnerEvents"`
	}
	respEventInfo struct {
		Message     string      `json:"Message"`
		Reason      *string     `json:"Reason"`
		Suggestions []string    `json:"Suggestions"`
		EventCode   int         `json:"EventCode"`
		Parameters  []respParam `json:"Parameters"`
	}
	respParam struct {
		Name  string `json:"Name"`
		Value string `json:"Value"`
	}
	respStatus struct {
		Code            int    `json:"Code"`
		HighestSeverity string `json:"HighestSeverity"`
	}
)

// body builds the response body; opID identifies the request in logs.
func (o *outcome) body(opID string) respShell {
	shell := respShell{OperationID: opID, Messages: []respMessage{}}
	for _, i := range o.order {
		m := respMessage{Events: []respEvent{}}
		if i >= 0 {
			idx := i
			m.MessageIndex = &idx
		}
		code, sev := http.StatusOK, sevWarning
		for _, ev := range o.events[i] {
			re := respEvent{Severity: ev.Severity, InnerEvents: []respEvent{}, EventInfo: respEventInfo{
				Message: ev.Message, Suggestions: []string{}, EventCode: ev.Code, Parameters: []respParam{},
			}}
			if ev.Reason != "" {
				r := ev.Reason
				re.EventInfo.Reason = &r
			}
			for _, p := range ev.Params {
				re.EventInfo.Parameters = append(re.EventInfo.Parameters, respParam{p[0], p[1]})
			}
			if ev.Severity == sevError {
				if sev != sevError {
					code = ev.Status
				}
				sev = sevError
			}
			m.Events = append(m.Events, re)
		}
		m.Status = respStatus{Code: code, HighestSeverity: sev}
		shell.Messages = append(shell.Messages, m)
	}
	return shell
}

// write sends the outcome as the response.
func (o *outcome) write(w http.ResponseWriter, opID string, retryAfter int) {
	st := o.status()
	h := w.Header()
	if st == http.StatusServiceUnavailable && retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	if st == http.StatusNoContent {
		w.WriteHeader(st)
		return
	}
	b, _ := json.MarshalIndent(o.body(opID), "", "  ")
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(st)
	w.Write(append(b, '\n'))
}

// newOperationID returns a random UUID (version 4).
func newOperationID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
