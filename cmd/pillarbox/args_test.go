package main

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	t.Parallel()
	type result struct {
		Positional []string
		Config     string
		Stdin      bool
		Count      int
	}
	tests := []struct {
		name    string
		args    []string
		want    result
		wantErr string // substring; "" means success
	}{
		{name: "none", args: nil, want: result{Count: 1}},
		{name: "flags after", args: []string{"add", "alice@example.org", "--password-stdin", "--config", "F"},
			want: result{Positional: []string{"add", "alice@example.org"}, Config: "F", Stdin: true, Count: 1}},
		{name: "flags before", args: []string{"-config=F", "-password-stdin", "add", "alice@example.org"},
			want: result{Positional: []string{"add", "alice@example.org"}, Config: "F", Stdin: true, Count: 1}},
		{name: "flags between", args: []string{"add", "--config=F", "alice@example.org", "-count", "3"},
			want: result{Positional: []string{"add", "alice@example.org"}, Config: "F", Count: 3}},
		{name: "explicit bool value", args: []string{"--password-stdin=false", "x"},
			want: result{Positional: []string{"x"}, Count: 1}},
		{name: "bool does not take next arg", args: []string{"--password-stdin", "x"},
			want: result{Positional: []string{"x"}, Stdin: true, Count: 1}},
		{name: "flag repeated, last wins", args: []string{"--config", "A", "x", "--config", "B"},
			want: result{Positional: []string{"x"}, Config: "B", Count: 1}},
		{name: "double dash", args: []string{"add", "--config", "F", "--", "--password-stdin", "-x", "y"},
			want: result{Positional: []string{"add", "--password-stdin", "-x", "y"}, Config: "F", Count: 1}},
		{name: "double dash as a flag value", args: []string{"--config", "--", "a", "--password-stdin"},
			want: result{Positional: []string{"a"}, Config: "--", Stdin: true, Count: 1}},
		{name: "single dash is positional", args: []string{"import", "-"},
			want: result{Positional: []string{"import", "-"}, Count: 1}},
		{name: "flag value looks like a flag", args: []string{"--config", "-weird", "a"},
			want: result{Positional: []string{"a"}, Config: "-weird", Count: 1}},
		{name: "unknown flag", args: []string{"add", "--bogus", "x"}, wantErr: "bogus"},
		{name: "missing value", args: []string{"add", "x", "--config"}, wantErr: "needs an argument"},
		{name: "bad int", args: []string{"--count", "many"}, wantErr: "count"},
		{name: "help", args: []string{"add", "-h"}, wantErr: "help requested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var got result
			fs.StringVar(&got.Config, "config", "", "")
			fs.BoolVar(&got.Stdin, "password-stdin", false, "")
			fs.IntVar(&got.Count, "count", 1, "")
			pos, err := parseArgs(fs, tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseArgs(%q) error = %v, want one containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseArgs(%q) = %v", tt.args, err)
			}
			got.Positional = pos
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseArgs(%q) = %+v, want %+v", tt.args, got, tt.want)
			}
		})
	}
}
