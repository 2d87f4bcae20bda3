// Package policy writes IAM policy documents: one statement per purpose,
// each naming its actions and resources, so that a reviewer (and the infra
// tests, which parse every document) can see what a role may do.
package policy

import "encoding/json"

// Statement is one IAM policy statement. Effect defaults to Allow.
type Statement struct {
	Sid       string                       `json:"Sid,omitempty"`
	Effect    string                       `json:"Effect"`
	Action    []string                     `json:"Action"`
	Resource  []string                     `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// Document renders statements as a policy document.
func Document(statements ...Statement) (string, error) {
	for i := range statements {
		if statements[i].Effect == "" {
			statements[i].Effect = "Allow"
		}
	}
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": statements})
	return string(b), err
}

// AssumeRole is the trust policy that lets an AWS service assume a role.
func AssumeRole(service string) string {
	doc, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":    "Allow",
			"Principal": map[string]string{"Service": service},
			"Action":    "sts:AssumeRole",
		}},
	})
	return string(doc)
}

// DecryptViaSecretsManager lets a role decrypt with keys only when Secrets
// Manager asks on its behalf (GetSecretValue), never directly.
func DecryptViaSecretsManager(region string, keyArns []string) Statement {
	return Statement{
		Sid:       "DecryptOwnSecrets",
		Action:    []string{"kms:Decrypt"},
		Resource:  keyArns,
		Condition: map[string]map[string]string{"StringEquals": {"kms:ViaService": "secretsmanager." + region + ".amazonaws.com"}},
	}
}

// ReadSecrets lets a role read exactly these secrets.
func ReadSecrets(secretArns []string) Statement {
	return Statement{Sid: "ReadOwnSecrets", Action: []string{"secretsmanager:GetSecretValue"}, Resource: secretArns}
}

// WriteLogs lets a role write log streams of one log group.
func WriteLogs(groupArn string) Statement {
	return Statement{Sid: "WriteOwnLogs", Action: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resource: []string{groupArn + ":*"}}
}

// Strings converts Pulumi's []any of an All(...) into strings.
func Strings(v []any) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i], _ = x.(string)
	}
	return out
}
