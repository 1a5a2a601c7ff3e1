package mux

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// tool finds ffmpeg or ffprobe: $STREAMOPS_FFMPEG / $STREAMOPS_FFPROBE, else PATH. Missing is a
// failure, not a skip (as in the front's tests).
func tool(t testing.TB, name string) string {
	t.Helper()
	if p := os.Getenv("STREAMOPS_" + strings.ToUpper(name)); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed by this test and is not on PATH (set STREAMOPS_%s; Debian: apt-get install ffmpeg)",
			name, strings.ToUpper(name))
	}
	return p
}

type flvTag struct {
	typ  uint8
	ts   uint32
	body []byte
}

const (
	clipSeconds = 7
	clipFPS     = 30
	frameTicks  = 90000 / clipFPS
)

var (
	clipOnce sync.Once
	clipTags []flvTag
	clipErr  error
)

// clip is a real encoder's FLV, made once per test binary: FFmpeg's x264 (1 s GOPs, B-frames, so
// composition offsets are exercised) and AAC 44.1 kHz stereo, 7 s of 320x240 at 30 fps.
func clip(t testing.TB) []flvTag {
	t.Helper()
	ffmpeg := tool(t, "ffmpeg")
	clipOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mux-clip-")
		if err != nil {
			clipErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "clip.flv")
		cmd := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=320x240:rate=%d", clipFPS),
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-ac", "2", "-t", strconv.Itoa(clipSeconds),
			"-c:v", "libx264", "-preset", "superfast", "-bf", "2", "-x264-params", "keyint=30:min-keyint=30:scenecut=0",
			"-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			clipErr = fmt.Errorf("ffmpeg: %v: %s", err, b)
			return
		}
		b, err := os.ReadFile(out)
		if err != nil {
			clipErr = err
			return
		}
		clipTags, clipErr = readFLV(b)
	})
	if clipErr != nil {
		t.Fatal(clipErr)
	}
	return clipTags
}

func readFLV(b []byte) ([]flvTag, error) {
	if len(b) < 13 || string(b[:3]) != "FLV" {
		return nil, errors.New("not FLV")
	}
	p := int(binary.BigEndian.Uint32(b[5:])) + 4
	var tags []flvTag
	for p+11 <= len(b) {
		size := int(b[p+1])<<16 | int(b[p+2])<<8 | int(b[p+3])
		ts := uint32(b[p+4])<<16 | uint32(b[p+5])<<8 | uint32(b[p+6]) | uint32(b[p+7])<<24
		if p+11+size+4 > len(b) {
			return nil, errors.New("truncated FLV")
		}
		tags = append(tags, flvTag{typ: b[p], ts: ts, body: b[p+11 : p+11+size]})
		p += 11 + size + 4
	}
	return tags, nil
}

var epoch = time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)

func testConfig(t *testing.T) Config {
	dir := t.TempDir()
	cfg := Config{TSDir: filepath.Join(dir, "ts"), CMAFDir: filepath.Join(dir, "cmaf"), Segment: 2 * time.Second,
		ListSize: 10, DeleteThreshold: 2, StartNumber: 1764554400, EndList: true, Now: func() time.Time { return epoch }}
	for _, d := range []string{cfg.TSDir, cfg.CMAFDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

type listed struct {
	seq   uint64
	name  string
	dur   float64
	start time.Time
}

type parsedPlaylist struct {
	version, target int
	seq             uint64
	mapURI          string
	endList         bool
	segments        []listed
}

func readPlaylist(t *testing.T, path string) parsedPlaylist {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p parsedPlaylist
	var dur float64
	var start time.Time
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "#EXT-X-VERSION":
			p.version, _ = strconv.Atoi(v)
		case "#EXT-X-TARGETDURATION":
			p.target, _ = strconv.Atoi(v)
		case "#EXT-X-MEDIA-SEQUENCE":
			p.seq, _ = strconv.ParseUint(v, 10, 64)
		case "#EXT-X-MAP":
			p.mapURI = strings.Trim(strings.TrimPrefix(v, "URI="), `"`)
		case "#EXT-X-PROGRAM-DATE-TIME":
			start, err = time.Parse("2006-01-02T15:04:05.000-0700", v)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
		case "#EXTINF":
			dur, _ = strconv.ParseFloat(strings.TrimSuffix(v, ","), 64)
		case "#EXT-X-ENDLIST":
			p.endList = true
		default:
			if line != "" && !strings.HasPrefix(line, "#") {
				p.segments = append(p.segments, listed{seq: p.seq + uint64(len(p.segments)), name: line, dur: dur, start: start})
			}
		}
	}
	return p
}

type packet struct {
	audio    bool
	pts, dts int64
	dur      int64
}

// probe decodes every frame of the file with ffprobe (any error line fails: ffprobe decodes with no
// muxer after it, so no frame-rate conversion adds complaints of its own) and returns its packets
// in the stream's time base (TS: 90 kHz; CMAF: each track's), and the frames decoded.
func probe(t *testing.T, path string) (packets []packet, frames int) {
	t.Helper()
	cmd := exec.Command(tool(t, "ffprobe"), "-v", "error", "-show_entries",
		"packet=codec_type,pts,dts,duration:frame=media_type", "-show_packets", "-show_frames", "-of", "compact", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("ffprobe decoding %s: %v: %s", filepath.Base(path), err, stderr.Bytes())
	}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Split(line, "|")
		switch fields[0] {
		case "frame":
			frames++
		case "packet":
			var p packet
			for _, f := range fields[1:] {
				k, v, _ := strings.Cut(f, "=")
				n, _ := strconv.ParseInt(v, 10, 64)
				switch k {
				case "codec_type":
					p.audio = v == "audio"
				case "pts":
					p.pts = n
				case "dts":
					p.dts = n
				case "duration":
					p.dur = n
				}
			}
			packets = append(packets, p)
		}
	}
	return packets, frames
}

func feed(t *testing.T, m *Muxer, tags []flvTag, each func(i int)) {
	t.Helper()
	for i, tag := range tags {
		if err := m.Tag(tag.typ, tag.ts, tag.body); err != nil {
			t.Fatalf("tag %d (type %d at %d ms): %v", i, tag.typ, tag.ts, err)
		}
		if each != nil {
			each(i)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSegmentsDecodeAndMatchTheirPlaylist: both flavours of a real encoder's 7 s decode without an
// error; ffprobe's video duration of each segment is its EXTINF within a frame; timestamps go on
// across segments with no gap or overlap; segments start at keyframes every 2 s; the playlist has
// the ingest's layout (numbers from StartNumber, PROGRAM-DATE-TIME adding up, ENDLIST).
func TestSegmentsDecodeAndMatchTheirPlaylist(t *testing.T) {
	tags := clip(t)
	cfg := testConfig(t)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	feed(t, m, tags, nil)
	for _, flavour := range []struct {
		dir, ext string
		version  int
		mapURI   string
	}{{cfg.TSDir, "ts", 3, ""}, {cfg.CMAFDir, "m4s", 7, "init.mp4"}} {
		t.Run(flavour.ext, func(t *testing.T) {
			p := readPlaylist(t, filepath.Join(flavour.dir, "index.m3u8"))
			if p.version != flavour.version || p.mapURI != flavour.mapURI || !p.endList || p.seq != cfg.StartNumber {
				t.Fatalf("playlist header: %+v", p)
			}
			// 7 s of 1 s GOPs cut at ≥ 2 s: 2 + 2 + 2 + 1 s.
			if len(p.segments) != 4 {
				t.Fatalf("%d segments: %+v", len(p.segments), p.segments)
			}
			var lastEnd, lastAudioEnd int64 = -1, -1
			var frames int
			at := epoch
			for i, s := range p.segments {
				if s.name != fmt.Sprintf("seg-%06d.%s", cfg.StartNumber+uint64(i), flavour.ext) {
					t.Errorf("segment %d is %s", i, s.name)
				}
				if !s.start.Equal(at) {
					t.Errorf("%s: PROGRAM-DATE-TIME %s, want %s", s.name, s.start, at)
				}
				at = at.Add(time.Duration(s.dur * float64(time.Second)))
				if want := []float64{2, 2, 2, 1}[i]; math.Abs(s.dur-want) > 1e-6 {
					t.Errorf("%s: EXTINF %f, want %f", s.name, s.dur, want)
				}
				if p.target < int(math.Round(s.dur)) {
					t.Errorf("target duration %d under %s's %f", p.target, s.name, s.dur)
				}
				path := filepath.Join(flavour.dir, s.name)
				videoScale, audioScale := int64(90000), int64(90000)
				if flavour.mapURI != "" {
					joined := filepath.Join(t.TempDir(), s.name+".mp4")
					initB, err := os.ReadFile(filepath.Join(flavour.dir, flavour.mapURI))
					if err != nil {
						t.Fatal(err)
					}
					segB, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(joined, append(initB, segB...), 0o644); err != nil {
						t.Fatal(err)
					}
					path, audioScale = joined, 44100
				}
				var video, audio []packet
				packets, decoded := probe(t, path)
				if decoded != len(packets) {
					t.Errorf("%s: %d frames decoded of %d packets", s.name, decoded, len(packets))
				}
				for _, pk := range packets {
					if pk.audio {
						audio = append(audio, pk)
					} else {
						video = append(video, pk)
					}
				}
				if len(video) == 0 || len(audio) == 0 {
					t.Fatalf("%s: %d video and %d audio packets", s.name, len(video), len(audio))
				}
				frames += len(video)
				first, last := video[0], video[len(video)-1]
				measured := float64(last.dts+frameTicks-first.dts) / float64(videoScale)
				if math.Abs(measured-s.dur) > 1.0/clipFPS {
					t.Errorf("%s: ffprobe's video %f s, EXTINF %f", s.name, measured, s.dur)
				}
				// Video: the next frame one frame after the previous segment's last, within the FLV
				// clock's millisecond (an encoder's 33.3 ms frames come as 33 and 34 ms timestamps).
				if lastEnd >= 0 && abs(first.dts-lastEnd) > 90 {
					t.Errorf("%s: video starts at %d, the previous segment ended at %d", s.name, first.dts, lastEnd)
				}
				lastEnd = last.dts + frameTicks
				// Audio: contiguous in CMAF (sample counts), within 1 ms (the FLV clock) in TS.
				slack := audioScale / 1000
				if flavour.mapURI != "" {
					slack = 0
				}
				if lastAudioEnd >= 0 && abs(audio[0].dts-lastAudioEnd) > slack {
					t.Errorf("%s: audio starts at %d, the previous segment's ended at %d", s.name, audio[0].dts, lastAudioEnd)
				}
				lastAudioEnd = audio[len(audio)-1].dts + audio[len(audio)-1].dur
			}
			if frames != clipSeconds*clipFPS {
				t.Errorf("%d video frames in the segments, the clip has %d", frames, clipSeconds*clipFPS)
			}
		})
	}
}

// TestWindowSlidesAndOldSegmentsGo: with a window of 2 and a delete threshold of 1, after every cut
// the playlist lists the last 2 segments (media sequence moving), each listed file exists, and the
// only segment files on disk are those 2 and the 1 before them; no ENDLIST when not asked.
func TestWindowSlidesAndOldSegmentsGo(t *testing.T) {
	tags := clip(t)
	cfg := testConfig(t)
	cfg.Segment, cfg.ListSize, cfg.DeleteThreshold, cfg.EndList = time.Second, 2, 1, false
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	check := func(dir, ext string, final bool) {
		path := filepath.Join(dir, "index.m3u8")
		if _, err := os.Stat(path); err != nil {
			return // no segment finished yet
		}
		p := readPlaylist(t, path)
		if p.endList {
			t.Fatalf("%s: ENDLIST without EndList", path)
		}
		n := int(p.seq - cfg.StartNumber + uint64(len(p.segments))) // segments finished so far
		if len(p.segments) != min(n, 2) {
			t.Fatalf("%s: %d listed of %d finished", path, len(p.segments), n)
		}
		var want []string
		for seq := max(0, n-3); seq <= n; seq++ { // the window, the threshold's 1, the one being written
			if seq < n || !final {
				want = append(want, fmt.Sprintf("seg-%06d.%s", cfg.StartNumber+uint64(seq), ext))
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "seg-") {
				got = append(got, e.Name())
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s after %d finished: files %v, want %v", dir, n, got, want)
		}
		checked++
	}
	feed(t, m, tags, func(int) {
		check(cfg.TSDir, "ts", false)
		check(cfg.CMAFDir, "m4s", false)
	})
	check(cfg.TSDir, "ts", true)
	check(cfg.CMAFDir, "m4s", true)
	p := readPlaylist(t, filepath.Join(cfg.TSDir, "index.m3u8"))
	if p.seq != cfg.StartNumber+5 || len(p.segments) != 2 {
		t.Fatalf("7 one-second segments, a window of 2: sequence %d, %d listed", p.seq-cfg.StartNumber, len(p.segments))
	}
	if checked == 0 {
		t.Fatal("nothing checked")
	}
}

// TestRefusals: what the Go muxer does not take gives an error the caller can tell apart
// (ErrUnsupported: fall back to FFmpeg; ErrMalformed; ErrFrameTooLarge), and it sticks.
func TestRefusals(t *testing.T) {
	tags := clip(t)
	var avcHeader, aacHeader []byte
	for _, tag := range tags {
		if tag.typ == TagVideo && avcHeader == nil && tag.body[1] == 0 {
			avcHeader = tag.body
		}
		if tag.typ == TagAudio && aacHeader == nil && tag.body[1] == 0 {
			aacHeader = tag.body
		}
	}
	cases := []struct {
		name string
		tags []flvTag
		want error
	}{
		{"enhanced RTMP HEVC", []flvTag{{TagVideo, 0, []byte{0x90, 'h', 'v', 'c', '1', 1, 2, 3}}}, ErrUnsupported},
		{"legacy HEVC codec id 12", []flvTag{{TagVideo, 0, []byte{0x1c, 0, 0, 0, 0}}}, ErrUnsupported},
		{"VP6", []flvTag{{TagVideo, 0, []byte{0x14, 0}}}, ErrUnsupported},
		{"MP3", []flvTag{{TagAudio, 0, []byte{0x2f, 0xff, 0xfb}}}, ErrUnsupported},
		{"enhanced RTMP Opus", []flvTag{{TagAudio, 0, []byte{0x90, 'O', 'p', 'u', 's'}}}, ErrUnsupported},
		{"AAC main profile", []flvTag{{TagAudio, 0, []byte{0xaf, 0, 0x0a, 0x10}}}, ErrUnsupported},
		{"a frame before the sequence header", []flvTag{{TagVideo, 0, []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65}}}, ErrMalformed},
		{"a NAL unit past the end", []flvTag{{TagVideo, 0, avcHeader}, {TagVideo, 0, []byte{0x17, 1, 0, 0, 0, 0, 0, 1, 0, 0x65}}}, ErrMalformed},
		{"a truncated AVC header", []flvTag{{TagVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x64}}}, ErrMalformed},
		{"the SPS changes mid-session", []flvTag{{TagVideo, 0, avcHeader}, {TagVideo, 40, changedSPS(avcHeader)}}, ErrUnsupported},
		{"a frame over the cap", []flvTag{{TagVideo, 0, avcHeader}, {TagVideo, 0, append([]byte{0x17, 1, 0, 0, 0}, make([]byte, DefaultMaxFrame)...)}}, ErrFrameTooLarge},
		{"audio only for 10 s", func() []flvTag {
			out := []flvTag{{TagAudio, 0, aacHeader}}
			for ms := uint32(0); ms <= 10100; ms += 23 {
				out = append(out, flvTag{TagAudio, ms, []byte{0xaf, 1, 0x21, 0x10, 0x04}})
			}
			return out
		}(), ErrUnsupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := New(testConfig(t))
			if err != nil {
				t.Fatal(err)
			}
			var got error
			for _, tag := range c.tags {
				if got = m.Tag(tag.typ, tag.ts, tag.body); got != nil {
					break
				}
			}
			if !errors.Is(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			if again := m.Tag(TagVideo, 0, avcHeader); again != got {
				t.Fatalf("after the error: %v", again)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// changedSPS is the AVC sequence header with the SPS's level byte changed (FLV's 5 bytes, the
// record's 6, the SPS length's 2, then profile, constraints, level).
func changedSPS(header []byte) []byte {
	b := bytes.Clone(header)
	b[5+6+2+2]++
	return b
}

// TestAudioAloneDoesNotPileUp: after the video stops, 20 s of audio leave at most a second of it
// pending in the CMAF writer (written out as audio-only fragments), and the segment still decodes.
func TestAudioAloneDoesNotPileUp(t *testing.T) {
	tags := clip(t)
	cfg := testConfig(t)
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var lastVideo int
	for i, tag := range tags {
		if tag.typ == TagVideo && tag.ts < 1500 {
			lastVideo = i
		}
	}
	var frame []byte
	for _, tag := range tags[:lastVideo+1] {
		if err := m.Tag(tag.typ, tag.ts, tag.body); err != nil {
			t.Fatal(err)
		}
		if tag.typ == TagAudio && tag.body[1] == 1 {
			frame = tag.body
		}
	}
	most := 0
	for ms := 1500.0; ms < 21500; ms += 1024000.0 / 44100 {
		if err := m.Tag(TagAudio, uint32(ms), frame); err != nil {
			t.Fatal(err)
		}
		most = max(most, len(m.cmaf.a))
	}
	if most > 44100/1024+1 {
		t.Fatalf("%d audio frames pending at most", most)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	p := readPlaylist(t, filepath.Join(cfg.CMAFDir, "index.m3u8"))
	last := p.segments[len(p.segments)-1]
	joined := filepath.Join(t.TempDir(), "joined.mp4")
	initB, _ := os.ReadFile(filepath.Join(cfg.CMAFDir, "init.mp4"))
	segB, _ := os.ReadFile(filepath.Join(cfg.CMAFDir, last.name))
	if err := os.WriteFile(joined, append(initB, segB...), 0o644); err != nil {
		t.Fatal(err)
	}
	packets, decoded := probe(t, joined)
	if decoded != len(packets) || len(packets) < 800 {
		t.Fatalf("%d packets, %d decoded", len(packets), decoded)
	}
}
