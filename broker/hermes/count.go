package hermes

import "encoding/json"

// RecordSecretFields is how many secret fields a sealed record of kind
// holds, counted one way for every report (migrate, status, unmigrate): an
// env record is one secret (its value is the key), anything else counts the
// secret leaves of its value by the classifier.
func RecordSecretFields(kind string, value []byte) int {
	if kind == "env" {
		var s string
		if json.Unmarshal(value, &s) == nil && s != "" {
			return 1
		}
		return 0
	}
	n, _ := CountSecrets(value)
	return n
}
