package main

import (
	"fmt"
)

// memInfo is the kernel memory the exporter reports and holds, at its
// default ring size.
type memInfo struct {
	ringRecords float64 // flightrec_recorder_ring_records
	ringsMax    float64 // flightrec_recorder_rings_max
	ringMemory  float64 // flightrec_recorder_ring_memory_bytes (all rings)
	tapeMemory  float64 // flightrec_recorder_incident_tape_memory_bytes (all rings' incident tapes)
	mapMemlock  int64   // memlock of every BPF map the exporter holds
	maps        int
}

// perRing is the kernel memory of one container ring.
func (m *memInfo) perRing() float64 { return m.ringMemory / m.ringsMax }

// tapePerRing is the kernel memory of one ring's incident tape.
func (m *memInfo) tapePerRing() float64 { return m.tapeMemory / m.ringsMax }

// readMemory reads the exporter's memory metrics and its maps' memlock.
func readMemory(e *exporterProc) (*memInfo, error) {
	mt, err := e.metrics()
	if err != nil {
		return nil, err
	}
	m := &memInfo{}
	for name, p := range map[string]*float64{
		"flightrec_recorder_ring_records":               &m.ringRecords,
		"flightrec_recorder_rings_max":                  &m.ringsMax,
		"flightrec_recorder_ring_memory_bytes":          &m.ringMemory,
		"flightrec_recorder_incident_tape_memory_bytes": &m.tapeMemory,
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
