package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/pion/webrtc/v4"
)

const maxSDPBytes = 64 << 10

// readSDPBody reads an application/sdp request body; on false the answer has been written.
func readSDPBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/sdp" {
		http.Error(w, "the body must be an SDP offer (Content-Type: application/sdp)", http.StatusUnsupportedMediaType)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSDPBytes))
	if err != nil {
		http.Error(w, "could not read the SDP offer: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// readOffer reads a POSTed SDP offer and the codecs it offers; false: the error was answered.
func readOffer(w http.ResponseWriter, r *http.Request) ([]byte, offerCodecs, bool) {
	offer, ok := readSDPBody(w, r)
	if !ok {
		return nil, offerCodecs{}, false
	}
	codecs, err := inspectSDP(offer)
	if err != nil {
		writeOfferError(w, err)
		return nil, offerCodecs{}, false
	}
	return offer, codecs, true
}

// answerOffer applies the offer and returns the complete answer: all our candidates are in it
// (host candidates on the shared ports only, gathered at once), so no trickle ICE is needed.
func answerOffer(pc *webrtc.PeerConnection, offer []byte) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		return "", fmt.Errorf("the offer was refused: %w", err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("no answer to the offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("no answer to the offer: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", errors.New("ICE candidate gathering timed out")
	}
	return pc.LocalDescription().SDP, nil
}

// writeAnswer sends 201 with the answer and the session resource (relative: the Python worker
// maps it onto its public URL).
func writeAnswer(w http.ResponseWriter, location, answer string) {
	w.Header().Set("Location", location)
	w.Header().Set("Content-Type", "application/sdp")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// writeOfferError answers an offer refused by inspectSDP: 400 when it does not parse.
func writeOfferError(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), http.StatusBadRequest)
}

func notSupported(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Allow", "DELETE")
	http.Error(w, "ICE restart and trickle ICE (PATCH) are not supported: DELETE the session and POST a new offer",
		http.StatusMethodNotAllowed)
}
