/*
 * The pure parts of the AWS credential sources, on the documents AWS
 * publishes: STS answers ("AssumeRoleWithWebIdentity" and "AssumeRole" API
 * reference examples, the query API's ErrorResponse), the container
 * credentials endpoint's and IMDS's JSON (ECS "Task IAM role" and EC2
 * "Retrieve security credentials from instance metadata" pages), the
 * credential_process output ("Sourcing credentials with an external
 * process"), the command split, the child's environment, the encoding
 * providers keep, and a profile's assume-role settings.
 */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aws_creds.h"
#include "creds.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char sts_web_identity[] =
	"<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
	"  <AssumeRoleWithWebIdentityResult>\n"
	"    <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56KR2A"
	"</SubjectFromWebIdentityToken>\n"
	"    <Audience>client.5498841531868486423.1548@apps.example.com</Audience>\n"
	"    <AssumedRoleUser>\n"
	"      <Arn>arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1</Arn>\n"
	"      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>\n"
	"    </AssumedRoleUser>\n"
	"    <Credentials>\n"
	"      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>\n"
	"      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>\n"
	"      <Expiration>2014-10-24T23:00:23Z</Expiration>\n"
	"      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
	"    </Credentials>\n"
	"    <SourceIdentity>SourceIdentityValue</SourceIdentity>\n"
	"    <Provider>www.amazon.com</Provider>\n"
	"  </AssumeRoleWithWebIdentityResult>\n"
	"  <ResponseMetadata>\n"
	"    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>\n"
	"  </ResponseMetadata>\n"
	"</AssumeRoleWithWebIdentityResponse>\n";

static const char sts_assume_role[] =
	"<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
	"<AssumeRoleResult>\n"
	"<SourceIdentity>Alice</SourceIdentity>\n"
	"<AssumedRoleUser>\n"
	"<Arn>arn:aws:sts::123456789012:assumed-role/demo/TestAR</Arn>\n"
	"<AssumedRoleId>ARO123EXAMPLE123:TestAR</AssumedRoleId>\n"
	"</AssumedRoleUser>\n"
	"<Credentials>\n"
	"<AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
	"<SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>\n"
	"<SessionToken>\n"
	"AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQW</SessionToken>\n"
	"<Expiration>2019-11-09T13:34:41Z</Expiration>\n"
	"</Credentials>\n"
	"<PackedPolicySize>6</PackedPolicySize>\n"
	"</AssumeRoleResult>\n"
	"<ResponseMetadata>\n"
	"<RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>\n"
	"</ResponseMetadata>\n"
	"</AssumeRoleResponse>\n";

static const char sts_error[] =
	"<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
	"  <Error>\n    <Type>Sender</Type>\n    <Code>InvalidIdentityToken</Code>\n"
	"    <Message>Couldn't retrieve verification key from your identity provider</Message>\n"
	"  </Error>\n  <RequestId>4a3c2b1e-0000-4000-8000-000000000000</RequestId>\n"
	"</ErrorResponse>\n";

START_TEST(test_sts_web_identity)
{
	struct creds c;
	char *exp, *code, *msg;

	ck_assert_int_eq(aws_sts_parse(sts_web_identity, strlen(sts_web_identity),
				       "AssumeRoleWithWebIdentity", &c, &exp, &code, &msg),
			 0);
	ck_assert_str_eq(c.access_key, "ASgeIAIOSFODNN7EXAMPLE");
	ck_assert_str_eq(c.secret_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
	ck_assert_str_eq(c.session_token, "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE");
	ck_assert_str_eq(exp, "2014-10-24T23:00:23Z");
	ck_assert_ptr_null(code);
	creds_clear(&c);
	free(exp);
	/* The other action's root is not an answer to this one. */
	ck_assert_int_eq(aws_sts_parse(sts_web_identity, strlen(sts_web_identity), "AssumeRole", &c,
				       &exp, &code, &msg),
			 -EPROTO);
	ck_assert_ptr_null(c.access_key);
}
END_TEST

START_TEST(test_sts_assume_role)
{
	struct creds c;
	char *exp, *code, *msg;

	ck_assert_int_eq(aws_sts_parse(sts_assume_role, strlen(sts_assume_role), "AssumeRole", &c,
				       &exp, &code, &msg),
			 0);
	ck_assert_str_eq(c.access_key, "ASIAIOSFODNN7EXAMPLE");
	/* Blanks around a value are not part of it. */
	ck_assert_str_eq(c.session_token,
			 "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQW");
	ck_assert_str_eq(exp, "2019-11-09T13:34:41Z");
	creds_clear(&c);
	free(exp);
}
END_TEST

START_TEST(test_sts_error)
{
	struct creds c;
	char *exp, *code, *msg;

	ck_assert_int_eq(aws_sts_parse(sts_error, strlen(sts_error), "AssumeRoleWithWebIdentity",
				       &c, &exp, &code, &msg),
			 -EACCES);
	ck_assert_str_eq(code, "InvalidIdentityToken");
	ck_assert_str_eq(msg, "Couldn't retrieve verification key from your identity provider");
	ck_assert_ptr_null(c.access_key);
	ck_assert_ptr_null(exp);
	free(code);
	free(msg);
	ck_assert_int_eq(aws_sts_parse("<x/>", 4, "AssumeRole", &c, &exp, &code, &msg), -EPROTO);
	ck_assert_int_eq(aws_sts_parse("not xml", 7, "AssumeRole", &c, &exp, &code, &msg), -EPROTO);
}
END_TEST

static const struct {
	const char *json;
	bool process;
	int rc;
	const char *ak, *token, *exp, *why;
} json_cases[] = {
	/* ECS task role. */
	{"{\n    \"AccessKeyId\": \"ACCESS_KEY_ID\",\n    \"Expiration\": \"EXPIRATION_DATE\",\n"
	 "    \"RoleArn\": \"TASK_ROLE_ARN\",\n    \"SecretAccessKey\": \"SECRET_ACCESS_KEY\",\n"
	 "    \"Token\": \"SECURITY_TOKEN_STRING\"\n}",
	 false, 0, "ACCESS_KEY_ID", "SECURITY_TOKEN_STRING", "EXPIRATION_DATE", NULL},
	/* IMDS. */
	{"{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2012-04-26T16:39:16Z\",\n"
	 "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"ASIAIOSFODNN7EXAMPLE\",\n"
	 "  \"SecretAccessKey\" : \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\",\n"
	 "  \"Token\" : \"token\",\n  \"Expiration\" : \"2017-05-17T15:09:54Z\"\n}",
	 false, 0, "ASIAIOSFODNN7EXAMPLE", "token", "2017-05-17T15:09:54Z", NULL},
	/* An IMDS failure. */
	{"{\"Code\": \"AssumeRoleUnauthorizedAccess\", \"AccessKeyId\": \"A\", "
	 "\"SecretAccessKey\": \"S\"}",
	 false, -EACCES, NULL, NULL, NULL, "the answer's Code is 'AssumeRoleUnauthorizedAccess'"},
	/* The container endpoint's error document. */
	{"{\"code\": \"x\", \"Code\": \"AccessDenied\", \"Message\": \"no role\"}", false, -EACCES,
	 NULL, NULL, NULL, "AccessDenied: no role"},
	/* credential_process, temporary and long-term. */
	{"{\n  \"Version\": 1,\n  \"AccessKeyId\": \"an AWS access key\",\n"
	 "  \"SecretAccessKey\": \"your AWS secret access key\",\n"
	 "  \"SessionToken\": \"the AWS session token for temporary credentials\",\n"
	 "  \"Expiration\": \"2030-01-01T00:00:00Z\"\n}",
	 true, 0, "an AWS access key", "the AWS session token for temporary credentials",
	 "2030-01-01T00:00:00Z", NULL},
	{"{\"Version\": 1, \"AccessKeyId\": \"AK\", \"SecretAccessKey\": \"SK\"}", true, 0, "AK",
	 NULL, NULL, NULL},
	{"{\"Version\": 2, \"AccessKeyId\": \"AK\", \"SecretAccessKey\": \"SK\"}", true, -EPROTO,
	 NULL, NULL, NULL, "its output lacks \"Version\": 1"},
	{"{\"AccessKeyId\": \"AK\", \"SecretAccessKey\": \"SK\"}", true, -EPROTO, NULL, NULL, NULL,
	 "its output lacks \"Version\": 1"},
	/* A process's token is SessionToken: Token is not it. */
	{"{\"Version\": 1, \"AccessKeyId\": \"AK\", \"SecretAccessKey\": \"SK\", \"Token\": "
	 "\"T\"}",
	 true, 0, "AK", NULL, NULL, NULL},
	{"{\"AccessKeyId\": \"AK\"}", false, -EPROTO, NULL, NULL, NULL,
	 "the answer has no usable AccessKeyId and SecretAccessKey"},
	{"{\"AccessKeyId\": \"A\\nK\", \"SecretAccessKey\": \"SK\"}", false, -EPROTO, NULL, NULL,
	 NULL, "the answer has no usable AccessKeyId and SecretAccessKey"},
	{"{\"AccessKeyId\": \"AK\", \"AccessKeyId\": \"AK2\", \"SecretAccessKey\": \"SK\"}", false,
	 -EPROTO, NULL, NULL, NULL, "the answer is not a JSON object"},
	{"[]", false, -EPROTO, NULL, NULL, NULL, "the answer is not a JSON object"},
	{"", true, -EPROTO, NULL, NULL, NULL, "the answer is not a JSON object"},
};

START_TEST(test_json_creds)
{
	struct creds c;
	char *exp = NULL, *why = NULL;
	int rc;

	rc = aws_json_creds_parse(json_cases[_i].json, strlen(json_cases[_i].json),
				  json_cases[_i].process, &c, &exp, &why);
	ck_assert_msg(rc == json_cases[_i].rc, "%s: %d", json_cases[_i].json, rc);
	if (!rc) {
		ck_assert_str_eq(c.access_key, json_cases[_i].ak);
		if (json_cases[_i].token)
			ck_assert_str_eq(c.session_token, json_cases[_i].token);
		else
			ck_assert_ptr_null(c.session_token);
		if (json_cases[_i].exp)
			ck_assert_str_eq(exp, json_cases[_i].exp);
		else
			ck_assert_ptr_null(exp);
	} else {
		ck_assert_ptr_null(c.access_key);
		ck_assert_ptr_null(exp);
		ck_assert_str_eq(why, json_cases[_i].why);
	}
	creds_clear(&c);
	free(exp);
	free(why);
}
END_TEST

START_TEST(test_encode_decode)
{
	struct creds in = {"AKID", "se/cr+et=", "tok/en==", NULL}, out;
	char *s = NULL;

	ck_assert_int_eq(aws_creds_encode(&in, &s), 0);
	ck_assert_str_eq(s, "AKID\nse/cr+et=\ntok/en==");
	ck_assert_int_eq(aws_creds_decode(s, &out), 0);
	ck_assert_str_eq(out.access_key, "AKID");
	ck_assert_str_eq(out.secret_key, "se/cr+et=");
	ck_assert_str_eq(out.session_token, "tok/en==");
	creds_clear(&out);
	free(s);
	in.session_token = NULL;
	ck_assert_int_eq(aws_creds_encode(&in, &s), 0);
	ck_assert_int_eq(aws_creds_decode(s, &out), 0);
	ck_assert_ptr_null(out.session_token);
	creds_clear(&out);
	free(s);
	in.secret_key = "two\nlines";
	ck_assert_int_eq(aws_creds_encode(&in, &s), -EINVAL);
	in.secret_key = "";
	ck_assert_int_eq(aws_creds_encode(&in, &s), -EINVAL);
	ck_assert_int_eq(aws_creds_decode("AK\nSK", &out), -EINVAL);
	ck_assert_int_eq(aws_creds_decode("\nSK\n", &out), -EINVAL);
	ck_assert_int_eq(aws_creds_decode("AK\nSK\nT\nX", &out), -EINVAL);
}
END_TEST

START_TEST(test_lifetime)
{
	int64_t life = 0;
	time_t now = 1573306481; /* 2019-11-09T13:34:41Z */

	ck_assert_int_eq(aws_creds_lifetime("2019-11-09T14:34:41Z", now, &life), 0);
	ck_assert_int_eq(life, 3600);
	ck_assert_int_eq(aws_creds_lifetime("2019-11-09T13:35:41+00:00", now, &life), 0);
	ck_assert_int_eq(life, 60);
	ck_assert_int_eq(aws_creds_lifetime("2019-11-09T13:34:46.123Z", now, &life), 0);
	ck_assert_int_eq(life, 5);
	ck_assert_int_eq(aws_creds_lifetime("2019-11-09T13:34:41Z", now, &life), -EPROTO);
	ck_assert_int_eq(aws_creds_lifetime("2019-11-09T14:34:41+01:00", now, &life), -EPROTO);
	ck_assert_int_eq(aws_creds_lifetime("EXPIRATION_DATE", now, &life), -EPROTO);
	ck_assert_int_eq(aws_creds_lifetime("2031-01-01T00:00:00Z", now, &life), -EPROTO);
	ck_assert_int_eq(aws_creds_lifetime(NULL, now, &life), 0);
	ck_assert(life > 50LL * 365 * 86400);
}
END_TEST

static const struct {
	const char *cmd;
	int rc;
	const char *words[5];
} split_cases[] = {
	{"/usr/bin/kc-creds --realm UA", 0, {"/usr/bin/kc-creds", "--realm", "UA"}},
	{"  a   b\t c ", 0, {"a", "b", "c"}},
	{"'/opt/my tools/get' \"x y\" z\\ w", 0, {"/opt/my tools/get", "x y", "z w"}},
	{"a \"q\\\"uote\" 'no\\esc'", 0, {"a", "q\"uote", "no\\esc"}},
	{"a '' b", 0, {"a", "", "b"}},
	{"$HOME/x `id`", 0, {"$HOME/x", "`id`"}},
	{"a 'open", -EINVAL, {NULL}},
	{"   ", -EINVAL, {NULL}},
};

START_TEST(test_process_split)
{
	char **argv = NULL, *why = NULL;
	size_t i;

	ck_assert_int_eq(aws_process_split(split_cases[_i].cmd, &argv, &why), split_cases[_i].rc);
	if (split_cases[_i].rc) {
		ck_assert_ptr_nonnull(why);
		free(why);
		return;
	}
	for (i = 0; split_cases[_i].words[i]; i++)
		ck_assert_str_eq(argv[i], split_cases[_i].words[i]);
	ck_assert_ptr_null(argv[i]);
	aws_process_argv_free(argv);
}
END_TEST

START_TEST(test_process_env)
{
	char *in[] = {"HOME=/root",
		      "AWS_ACCESS_KEY_ID=AK",
		      "AWS_SECRET_ACCESS_KEY=SK",
		      "AWS_SESSION_TOKEN=T",
		      "AWS_PROFILE=team",
		      "AWS_CONTAINER_AUTHORIZATION_TOKEN=X",
		      "AZURE_CLIENT_SECRET=Y",
		      "AWS_ACCESS_KEY_ID_NOT=kept",
		      "PATH=/bin",
		      NULL};
	const char *want[] = {"HOME=/root", "AWS_PROFILE=team", "AWS_ACCESS_KEY_ID_NOT=kept",
			      "PATH=/bin"};
	char **out = aws_process_env(in);
	size_t i;

	ck_assert_ptr_nonnull(out);
	for (i = 0; i < N(want); i++)
		ck_assert_str_eq(out[i], want[i]);
	ck_assert_ptr_null(out[i]);
	free(out);
}
END_TEST

START_TEST(test_profile_assume_role)
{
	char dir[] = "/tmp/bfs-aws-XXXXXX", path[256], cmd[300];
	struct creds_profile p;
	char *why = NULL;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("[default]\nregion = eu-west-1\n"
	      "[profile dev]\n"
	      "role_arn = arn:aws:iam::123456789012:role/dev\n"
	      "source_profile = base\n"
	      "role_session_name = me\n"
	      "external_id = ext-1\n"
	      "duration_seconds = 3600\n"
	      "[profile kc]\ncredential_process = /usr/lib/bucketfs/keycloak-creds --x\n",
	      f);
	fclose(f);
	setenv("AWS_CONFIG_FILE", path, 1);
	snprintf(path, sizeof(path), "%s/credentials", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("[base]\naws_access_key_id = AKBASE\naws_secret_access_key = SKBASE\n"
	      "[dev]\nrole_session_name = from-credentials\n",
	      f);
	fclose(f);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);

	ck_assert_int_eq(creds_profile_read("dev", &p, &why), 0);
	ck_assert_str_eq(p.role_arn, "arn:aws:iam::123456789012:role/dev");
	ck_assert_str_eq(p.source_profile, "base");
	/* The credentials file is read first, and its setting kept. */
	ck_assert_str_eq(p.role_session_name, "from-credentials");
	ck_assert_str_eq(p.external_id, "ext-1");
	ck_assert_str_eq(p.duration_seconds, "3600");
	ck_assert_ptr_null(p.ak);
	creds_profile_clear(&p);
	ck_assert_ptr_null(p.role_arn);

	ck_assert_int_eq(creds_profile_read("base", &p, &why), 0);
	ck_assert_str_eq(p.ak, "AKBASE");
	creds_profile_clear(&p);
	ck_assert_int_eq(creds_profile_read("kc", &p, &why), 0);
	ck_assert_str_eq(p.credential_process, "/usr/lib/bucketfs/keycloak-creds --x");
	creds_profile_clear(&p);
	ck_assert_int_eq(creds_profile_read("nope", &p, &why), -ENOENT);

	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_pins)
{
	enum aws_creds_pin pin;

	ck_assert_int_eq(aws_creds_pin_parse("web-identity", &pin), 0);
	ck_assert_int_eq(pin, AWS_CREDS_WEB_IDENTITY);
	ck_assert_int_eq(aws_creds_pin_parse("imds", &pin), 0);
	ck_assert_int_eq(pin, AWS_CREDS_IMDS);
	ck_assert_int_eq(aws_creds_pin_parse("IMDS", &pin), -EINVAL);
	ck_assert_int_eq(aws_creds_pin_parse("sso", &pin), -EINVAL);
}
END_TEST

START_TEST(test_sts_endpoint)
{
	char *s;

	unsetenv("AWS_ENDPOINT_URL_STS");
	unsetenv("AWS_ENDPOINT_URL");
	s = aws_sts_endpoint("eu-west-1");
	ck_assert_str_eq(s, "https://sts.eu-west-1.amazonaws.com");
	free(s);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1", 1);
	s = aws_sts_endpoint("eu-west-1");
	ck_assert_str_eq(s, "http://127.0.0.1:1");
	free(s);
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:2", 1);
	s = aws_sts_endpoint("eu-west-1");
	ck_assert_str_eq(s, "http://127.0.0.1:2");
	free(s);
	unsetenv("AWS_ENDPOINT_URL_STS");
	unsetenv("AWS_ENDPOINT_URL");
}
END_TEST

START_TEST(test_key_id_shown)
{
	char out[32];

	ck_assert_str_eq(creds_key_id_shown("AKIAIOSFODNN7EXAMPLE", out), "AKIAIOSFODNN7EXAMPLE");
	ck_assert_str_eq(creds_key_id_shown("kc.n0uHJs7jxGFPwruhNHmL08zDbNtdJB9DR9YcJ16Zl", out),
			 "kc.n...16Zl");
	ck_assert_str_eq(creds_key_id_shown(NULL, out), "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("aws_creds");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_sts_web_identity);
	tcase_add_test(tc, test_sts_assume_role);
	tcase_add_test(tc, test_sts_error);
	tcase_add_loop_test(tc, test_json_creds, 0, N(json_cases));
	tcase_add_test(tc, test_encode_decode);
	tcase_add_test(tc, test_lifetime);
	tcase_add_loop_test(tc, test_process_split, 0, N(split_cases));
	tcase_add_test(tc, test_process_env);
	tcase_add_test(tc, test_profile_assume_role);
	tcase_add_test(tc, test_pins);
	tcase_add_test(tc, test_sts_endpoint);
	tcase_add_test(tc, test_key_id_shown);
	suite_add_tcase(s, tc);
	return check_run(s);
}
