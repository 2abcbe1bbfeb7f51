package processor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/detect"
	"github.com/vigil-soc/vigil/pkg/event"
)

// partitionKey is the field events are keyed by on the events topic (the
// shipper's contract, see services/shipper/README.md): every event of one
// source IP is on one partition.
const partitionKey = "source.ip"

// stage is a group of profiles that run together in one engine per task.
type stage struct {
	// name is "local" for the profiles that run where the events are
	// read, or the key the others share, e.g. "user.name".
	name     string
	profiles []config.ProfileConfig
	// router (re-keyed stages only) matches events and names their
	// entity, the key they are re-partitioned by; it holds no state.
	router *detect.Engine
}

// topology says where each profile runs. A profile whose key includes
// source.ip runs in the task of the events partition it reads: an entity
// of it is on one partition already. Every other profile is re-keyed: the
// event's task forwards it to the repartition topic keyed by the profile's
// entity, and the task of that partition runs the profile, so each entity
// is counted in exactly one place.
type topology struct {
	local    stage
	rekeyed  []stage
	opts     detect.Options
	profiles []string
	// labels are the labels.NAME fields some re-keyed profile reads: a
	// forwarded event keeps these (and vigil.repeat) and no other label.
	labels map[string]bool
}

// plan builds the topology of profiles.
func plan(profiles []config.ProfileConfig, opts detect.Options) (*topology, error) {
	t := &topology{local: stage{name: "local"}, opts: opts}
	byKey := map[string]int{}
	for _, pc := range profiles {
		t.profiles = append(t.profiles, pc.Name)
		if slices.Contains(pc.Key, partitionKey) {
			t.local.profiles = append(t.local.profiles, pc)
			continue
		}
		key := detect.KeySpec(pc)
		i, ok := byKey[key]
		if !ok {
			i = len(t.rekeyed)
			byKey[key] = i
			t.rekeyed = append(t.rekeyed, stage{name: key})
		}
		t.rekeyed[i].profiles = append(t.rekeyed[i].profiles, pc)
	}
	t.labels = map[string]bool{repeatLabel: true}
	for _, st := range t.rekeyed {
		for _, pc := range st.profiles {
			for _, f := range profileFields(pc) {
				name, _ := config.SplitKeyField(f)
				if l, ok := strings.CutPrefix(name, "labels."); ok {
					t.labels[l] = true
				}
			}
		}
	}
	for i := range t.rekeyed {
		r, err := detect.New(t.rekeyed[i].profiles, opts)
		if err != nil {
			return nil, fmt.Errorf("processor: %w", err)
		}
		t.rekeyed[i].router = r
	}
	// Compile the local profiles once here, so a bad profile fails at
	// start rather than when the first partition is assigned.
	if _, err := t.localEngine(); err != nil {
		return nil, err
	}
	return t, nil
}

// stageNames names the re-keyed stages, in order.
func (t *topology) stageNames() []string {
	names := make([]string, len(t.rekeyed))
	for i, st := range t.rekeyed {
		names[i] = st.name
	}
	return names
}

// repeatLabel is the label of a syslog "message repeated N times" line,
// which the engines count as N events.
const repeatLabel = "vigil.repeat"

// profileFields lists every field a profile reads.
func profileFields(pc config.ProfileConfig) []string {
	fields := slices.Clone(pc.Key)
	for f := range pc.Match.Fields {
		fields = append(fields, f)
	}
	for _, f := range pc.Features {
		if f.Field != "" {
			fields = append(fields, f.Field)
		}
	}
	return fields
}

// trim returns the copy of ev a re-keyed stage needs: without the raw line
// and the labels no re-keyed profile reads, which is most of its size.
func (t *topology) trim(ev *event.Event) *event.Event {
	c := *ev
	c.Message, c.ParseError, c.Attrs = "", "", nil
	for k, v := range ev.Attrs {
		if t.labels[k] {
			if c.Attrs == nil {
				c.Attrs = map[string]string{}
			}
			c.Attrs[k] = v
		}
	}
	return &c
}

// localEngine returns a new engine of the local profiles, for the task of
// one events partition: its events come from that partition only.
func (t *topology) localEngine() (*detect.Engine, error) {
	o := t.opts
	o.Dedup = detect.DedupNone // the task drops redelivered ids before any engine sees them
	e, err := detect.New(t.local.profiles, o)
	if err != nil {
		return nil, fmt.Errorf("processor: %w", err)
	}
	return e, nil
}

// rekeyedEngine returns a new engine of re-keyed stage i, for the task of
// one repartition partition. Its lanes are the events partitions that
// forward to it: each forwards in offset order, so a position at or below
// one counted already is a copy sent again after a crash; and a lane waits
// for its upstream task (which reports its progress and when it is idle)
// rather than for the wall clock, so an instance that dies does not make
// its partitions' events late elsewhere. The lanes interleave in no fixed
// order, so alerts are raised when windows close, never early: an early
// verdict would depend on which windows happened to be closed.
func (t *topology) rekeyedEngine(i int) (*detect.Engine, error) {
	o := t.opts
	o.Dedup = detect.DedupOffsets
	o.ExplicitIdle = true
	o.NoEarlyAlerts = true
	e, err := detect.New(t.rekeyed[i].profiles, o)
	if err != nil {
		return nil, fmt.Errorf("processor: %w", err)
	}
	return e, nil
}
