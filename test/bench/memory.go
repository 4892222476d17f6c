package main

import (
	"fmt"
)

// memInfo is the kernel memory the exporter reports and holds, at its
// default sizes.
type memInfo struct {
	smallRecords, largeRecords float64 // flightrec_recorder_ring_records{class}
	smallBytes, largeBytes     float64 // flightrec_recorder_class_ring_bytes{class}: one ring, tape included
	smallTape, largeTape       float64 // flightrec_recorder_class_tape_bytes{class}: its tape
	now                        float64 // flightrec_recorder_ring_memory_bytes after the run
	budget                     float64 // flightrec_recorder_memory_budget_bytes
	mapMemlock                 int64   // memlock of every BPF map the exporter holds
	maps                       int
}

// perRing is the kernel memory of the records of one large ring.
func (m *memInfo) perRing() float64 { return m.largeBytes - m.largeTape }

// tapePerRing is the kernel memory of a large ring's incident tape.
func (m *memInfo) tapePerRing() float64 { return m.largeTape }

// readMemory reads the exporter's memory metrics and its maps' memlock.
func readMemory(e *exporterProc) (*memInfo, error) {
	mt, err := e.metrics()
	if err != nil {
		return nil, err
	}
	m := &memInfo{}
	for name, p := range map[string]*float64{
		`flightrec_recorder_ring_records{class="small"}`:     &m.smallRecords,
		`flightrec_recorder_ring_records{class="large"}`:     &m.largeRecords,
		`flightrec_recorder_class_ring_bytes{class="small"}`: &m.smallBytes,
		`flightrec_recorder_class_ring_bytes{class="large"}`: &m.largeBytes,
		`flightrec_recorder_class_tape_bytes{class="small"}`: &m.smallTape,
		`flightrec_recorder_class_tape_bytes{class="large"}`: &m.largeTape,
		"flightrec_recorder_ring_memory_bytes":               &m.now,
		"flightrec_recorder_memory_budget_bytes":             &m.budget,
	} {
		v, ok := mt[name]
		if !ok || v <= 0 {
			return nil, fmt.Errorf("/metrics: %s missing or not positive", name)
		}
		*p = v
	}
	if m.mapMemlock, m.maps, err = e.mapMemlock(); err != nil {
		return nil, err
	}
	return m, nil
}
