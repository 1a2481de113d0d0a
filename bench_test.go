package orgd_test

import (
	"testing"

	"github.com/orgd/orgd"
)

func BenchmarkNormalizeAndValidate(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		if orgd.ValidateName("Acme-Corp_2026") != "" || orgd.ValidateEmail("Admin@Acme.example") != "" {
			b.Fatal("valid input refused")
		}
		_ = orgd.CollectionName("Acme-Corp_2026")
		_ = orgd.NormalizeEmail("Admin@Acme.example")
	}
}
